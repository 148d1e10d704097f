// Package crash reads what a child process of the controller (a lab's sandbox, a lab
// plugin) said as it died: the end of its stderr, and in it the Go runtime's panic or
// fatal error line that tells why.
package crash

import (
	"strings"
	"sync"
)

// Tail keeps the last bytes written to it: a child's stderr, whatever its length. It is
// safe for concurrent use.
type Tail struct {
	mu  sync.Mutex // protects b
	max int
	b   []byte
}

// NewTail returns a Tail that keeps the last max bytes.
func NewTail(max int) *Tail { return &Tail{max: max} }

// Write keeps the end of p.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// String returns what is kept.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// Last is the line that says what ended the process (a Go runtime's "panic:" or "fatal
// error:"), else the last line written.
func (t *Tail) Last() string {
	lines := strings.Split(strings.TrimSpace(t.String()), "\n")
	for _, l := range lines {
		if isCrash(l) {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// Crashed reports whether what is kept shows a Go runtime's panic or fatal error.
func (t *Tail) Crashed() bool { return isCrash(t.Last()) }

func isCrash(line string) bool {
	return strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:")
}
