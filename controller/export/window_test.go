package export

import "testing"

// TestRecentWindow: a writer remembers at most window steps, however many it is given:
// the oldest are forgotten, the latest window are there.
func TestRecentWindow(t *testing.T) {
	var r recent[int]
	n := window + 1000
	for i := range n {
		r.put(i * 2)
	}
	if len(r.items) != window {
		t.Errorf("%d steps held, want at most %d", len(r.items), window)
	}
	if _, ok := r.get(n - window - 1); ok {
		t.Errorf("step %d is remembered past the window", n-window-1)
	}
	for _, i := range []int{n - window, n - 1} {
		if v, ok := r.get(i); !ok || v != i*2 {
			t.Errorf("get(%d) = %d, %v; want %d, true", i, v, ok, i*2)
		}
	}
	if _, ok := r.get(n); ok {
		t.Errorf("a step not yet put is remembered")
	}
}
