package crash_test

import (
	"fmt"
	"testing"

	"github.com/socklab/socklab/controller/crash"
)

// TestTail: the tail keeps the end of what was written, and finds the runtime's line
// that says why a Go process died, even with a goroutine dump after it.
func TestTail(t *testing.T) {
	tl := crash.NewTail(64)
	fmt.Fprintf(tl, "starting\nwarming up\n")
	if got := tl.Last(); got != "warming up" || tl.Crashed() {
		t.Errorf("Last %q, Crashed %v; want the last line, no crash", got, tl.Crashed())
	}
	fmt.Fprintf(tl, "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n")
	if got := tl.Last(); got != "panic: boom" || !tl.Crashed() {
		t.Errorf("Last %q, Crashed %v; want the panic line", got, tl.Crashed())
	}
	for range 10 {
		fmt.Fprintf(tl, "0123456789\n")
	}
	if s := tl.String(); len(s) != 64 || s[len(s)-11:] != "0123456789\n" {
		t.Errorf("kept %d bytes ending %q, want the last 64", len(s), s[max(0, len(s)-11):])
	}
}
