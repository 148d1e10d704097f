package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// announcedRe is the line on stderr that names a run as it starts.
var announcedRe = regexp.MustCompile(`(?m)^(run-[0-9a-f]{16}) `)

// TestTranscriptAsLive: a run prints its id as it starts, local or remote, and
// `socklab transcript RUN` prints exactly what the run printed live: the same header, the
// same lines, the same checks table with the checks' descriptions; in text and in JSON
// lines.
func TestTranscriptAsLive(t *testing.T) {
	execsBinary(t)
	db := filepath.Join(t.TempDir(), "runs.db")
	ctlDB := filepath.Join(t.TempDir(), "ctl.db")
	addr, _ := startServer(t, "controller", "--listen", testNet()+"30:0", "--db", ctlDB)
	for _, format := range []string{"text", "jsonl"} {
		for _, where := range []struct {
			name string
			args []string
		}{
			{"local", []string{"--db", db}},
			{"remote", []string{"--controller", addr}},
		} {
			t.Run(format+"/"+where.name, func(t *testing.T) {
				args := append([]string{"run", "tcp-simple", "--color", "never", "--format", format}, where.args...)
				live, errOut, code := socklab(t, args...)
				m := announcedRe.FindStringSubmatch(errOut)
				if code != 0 || m == nil {
					t.Fatalf("socklab %s: exit %d, want 0 and the run's id on stderr\n%s%s", strings.Join(args, " "), code, live, errOut)
				}
				if format == "text" && !strings.Contains(live, "the server receives exactly what the client sent") {
					t.Errorf("the live checks table lacks the checks' descriptions:\n%s", live)
				}
				again, errOut, code := socklab(t, append([]string{"transcript", m[1], "--color", "never", "--format", format}, where.args...)...)
				if code != 0 || !strings.HasPrefix(errOut, m[1]+", ") {
					t.Fatalf("transcript %s: exit %d, want 0 and the run named on stderr\n%s%s", m[1], code, again, errOut)
				}
				if again != live {
					t.Errorf("transcript %s differs from the live run's output (-live +transcript):\n%s", m[1], lineDiff(live, again))
				}
			})
		}
	}
}
