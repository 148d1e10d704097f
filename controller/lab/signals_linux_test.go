package lab

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestSignalNumbersAreLinux: the lab's table of signal numbers, which a controller on
// any system uses to turn an agent's "SIGTERM" into Python's returncode -15, is Linux's,
// as the agents' own (x/sys/unix) is, and misses none of the standard signals.
func TestSignalNumbersAreLinux(t *testing.T) {
	for name, n := range signalNumbers {
		if got := int(unix.SignalNum(name)); got != n {
			t.Errorf("%s = %d here, Linux has %d", name, n, got)
		}
	}
	for n := 1; n <= 31; n++ {
		if name := unix.SignalName(unix.Signal(n)); signalNumbers[name] != n {
			t.Errorf("signal %d (%s) is missing from the table", n, name)
		}
	}
}
