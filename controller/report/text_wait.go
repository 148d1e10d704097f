package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/socklab/socklab/controller/transcript"
)

// waitAfter is how long a call runs before a terminal shows it as waiting: most calls
// return long before, and would only flicker.
const waitAfter = 150 * time.Millisecond

// waits are the calls in flight of a Text on a terminal, and the lines showing those
// that wait, kept below the transcript's last line and redrawn after each line written.
type waits struct {
	calls []*waiting // in the order they were sent
	shown int        // the lines showing waiting calls, below the cursor's line
}

// waiting is one call in flight.
type waiting struct {
	id      uint64
	e       transcript.Entry
	timer   *time.Timer
	visible bool
}

// Calling tells t of a call sent to an agent: id names it until Returned, and e is the
// entry it will make, its Event holding the host's handle and the operation but no
// result. On a terminal, a call that has not returned within a moment shows as waiting,
// "recv(1024)  ...waiting", below the transcript until it returns, when its line takes
// that place. Elsewhere it does nothing.
func (t *Text) Calling(id uint64, e transcript.Entry) {
	if t.terminal == 0 || e.Event == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	w := &waiting{id: id, e: e}
	w.timer = time.AfterFunc(waitAfter, func() { t.show(id) })
	t.waits.calls = append(t.waits.calls, w)
}

// Returned tells t that the call id returned; its entry, if it made one, comes next.
func (t *Text) Returned(id uint64) {
	if t.terminal == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i := slices.IndexFunc(t.waits.calls, func(w *waiting) bool { return w.id == id })
	if i < 0 {
		return
	}
	w := t.waits.calls[i]
	w.timer.Stop()
	t.waits.calls = slices.Delete(t.waits.calls, i, i+1)
	if w.visible {
		t.write("") // redraw without it
	}
}

// show marks call id as waiting and draws it, if it is still in flight.
func (t *Text) show(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.waits.calls {
		if w.id == id && !w.visible {
			w.visible = true
			t.write("")
		}
	}
}

// stopWaits forgets every call in flight and erases their lines; t.mu is held.
func (t *Text) stopWaits() {
	for _, w := range t.waits.calls {
		w.timer.Stop()
	}
	t.waits.calls = nil
	t.write("")
}

// eraseWaits returns what erases the waiting lines, leaving the cursor where the first
// was; t.mu is held.
func (t *Text) eraseWaits() string {
	if t.waits.shown == 0 {
		return ""
	}
	n := t.waits.shown
	t.waits.shown = 0
	return fmt.Sprintf("\x1b[%dF\x1b[J", n) // up n lines to their start, clear below
}

// drawWaits returns the lines of the calls that wait, each cut to the terminal's width
// so that none wraps (the count of lines to erase stays right); t.mu is held.
func (t *Text) drawWaits() string {
	var b strings.Builder
	for _, w := range t.waits.calls {
		if !w.visible {
			continue
		}
		e := w.e
		hs := handleName(e.Event)
		if n := t.steps.Conn(e.Host, e.Event.GetHandle()); n != 0 && !isProcess(e.Event) && hs != "" {
			hs += " " + connName(n)
		}
		plain, _ := t.prefix(e, hs)
		line := plain + Call(e.Event) + "  ...waiting"
		if r := []rune(line); len(r) > t.terminal-1 {
			line = string(r[:max(0, t.terminal-2)]) + "…"
		}
		b.WriteString(t.paint(dim, line) + "\n")
		t.waits.shown++
	}
	return b.String()
}
