package labs_test

import (
	"strings"
	"testing"

	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/labs"
)

// TestSentLoadsHelpers: a lab sent to a controller loads the built-in helpers by either
// name, lib/net.star or @socklab//lib/net.star, and nothing outside what it was sent.
func TestSentLoadsHelpers(t *testing.T) {
	const rest = "\nlab(name = \"x\", summary = \"s\", hosts = [\"a\"])\n\ndef main(t):\n    pass\n"
	for _, tc := range []struct{ load, want string }{
		{`load("lib/net.star", "listener")`, ""},
		{`load("@socklab//lib/net.star", "listener")`, ""},
		{`load("@socklab//lib/peers.star", "slow_send")`, ""},
		{`load("../etc/x.star", "x")`, `lab.star:1:1: load "../etc/x.star": outside the lab's folder`},
	} {
		src, name := labs.Sent("lab.star", []byte(tc.load+"\n"+rest), nil)
		_, err := lab.Load(src, name)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: Load: %v", tc.load, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: Load error = %v, want %q", tc.load, err, tc.want)
		}
	}
}
