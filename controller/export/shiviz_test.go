package export_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/socklab/socklab/controller/export"
	"github.com/socklab/socklab/controller/ladder"
)

// shivizEvent is one event of a ShiViz log.
type shivizEvent struct {
	desc, host string
	clock      map[string]uint64
}

// parseShiViz reads a log as ShiViz does: the regex on its first line, an empty
// delimiter line, then the regex applied to the rest, which every match must cover.
func parseShiViz(t *testing.T, log string) []shivizEvent {
	t.Helper()
	first, rest, _ := strings.Cut(log, "\n")
	delim, body, _ := strings.Cut(rest, "\n")
	if first != export.ShiVizRegex || delim != "" {
		t.Fatalf("the log starts %q, %q; want the regex %q and an empty delimiter line", first, delim, export.ShiVizRegex)
	}
	re := regexp.MustCompile(first) // Go reads (?<name>...) as JavaScript does
	var out []shivizEvent
	covered := 0
	for _, m := range re.FindAllStringSubmatchIndex(body, -1) {
		if gap := strings.TrimSpace(body[covered:m[0]]); gap != "" {
			t.Fatalf("text between events, which ShiViz would not read: %q", gap)
		}
		covered = m[1]
		ev := shivizEvent{desc: body[m[2]:m[3]], host: body[m[4]:m[5]]}
		if err := json.Unmarshal([]byte(body[m[6]:m[7]]), &ev.clock); err != nil {
			t.Fatalf("clock %q: %v", body[m[6]:m[7]], err)
		}
		out = append(out, ev)
	}
	if strings.TrimSpace(body[covered:]) != "" {
		t.Fatalf("text after the last event: %q", body[covered:])
	}
	return out
}

var stepRe = regexp.MustCompile(`^\[t=[0-9.]+ step (\d+)\] `)

// TestShiViz: the logs of chat-relay, rst-on-close, udp-echo, concurrent-server (an
// accept shown before the connect it took) and a failing run are loaded by ShiViz's own
// parser and model (testdata/shiviz); each event is a description line and a host's
// vector clock that the regex on the log's first line reads; each host's own entry counts
// its events 1, 2, 3 (as ShiViz requires), its clocks never go back, no clock names an
// event its host has not had yet, and the clock of each step that got a message (each
// ladder arrow) is at least its sender's; the failed check is an event of the lab.
func TestShiViz(t *testing.T) {
	for _, name := range []string{"chat-relay", "rst-on-close", "udp-echo", "concurrent-server", "failing.star"} {
		t.Run(name, func(t *testing.T) {
			rec := record(t, name)
			log := exported(t, "shiviz", rec)
			events := parseShiViz(t, log)
			seen := map[string]uint64{}
			last := map[string]map[string]uint64{}
			byStep := map[int]map[string]uint64{}
			for i, ev := range events {
				if ev.clock[ev.host] != seen[ev.host]+1 {
					t.Errorf("event %d (%s) has %s's clock at %d, want %d", i, ev.desc, ev.host, ev.clock[ev.host], seen[ev.host]+1)
				}
				seen[ev.host] = ev.clock[ev.host]
				for h, v := range ev.clock {
					if v > seen[h] {
						t.Errorf("event %d (%s) knows %s's event %d, which is not written yet", i, ev.desc, h, v)
					}
					if v < last[ev.host][h] {
						t.Errorf("event %d (%s): %s's clock of %s went back from %d to %d", i, ev.desc, ev.host, h, last[ev.host][h], v)
					}
				}
				last[ev.host] = ev.clock
				if m := stepRe.FindStringSubmatch(ev.desc); m != nil {
					n, _ := strconv.Atoi(m[1])
					byStep[n] = ev.clock
				}
			}
			steps, arrows := ladder.Build(rec.Entries)
			if len(byStep) != len(steps) {
				t.Errorf("%d steps in the log, want %d", len(byStep), len(steps))
			}
			joined := 0
			for _, a := range arrows {
				if a.Recv < 0 {
					continue
				}
				send, recv := byStep[a.Send], byStep[a.Recv]
				for h, v := range send {
					if recv[h] < v {
						t.Errorf("%s arrow from step %d to %d: the receiver's clock %v is behind the sender's %v", a.Kind, a.Send, a.Recv, recv, send)
						break
					}
				}
				joined++
			}
			if joined == 0 {
				t.Errorf("no arrow joined two steps: %s", log)
			}
			if name == "failing.star" && !slices.ContainsFunc(events, func(ev shivizEvent) bool {
				return ev.host == "lab" && strings.Contains(ev.desc, "check gets-upper failed / got b'") && strings.Contains(ev.desc, "sockets: server ")
			}) {
				t.Errorf("no event of the lab says that gets-upper failed, why, and the sockets then:\n%s", log)
			}
			shivizByNode(t, log, len(events))
		})
	}
}

// shivizByNode loads the log with ShiViz's own parser and model (testdata/shiviz/load.js,
// run by node, with the ShiViz checkout $SOCKLAB_SHIVIZ names), which must accept it with
// the same number of events.
func shivizByNode(t *testing.T, log string, want int) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Log("no node: the log is not loaded by ShiViz's own code")
		return
	}
	if os.Getenv("SOCKLAB_SHIVIZ") == "" {
		t.Log("$SOCKLAB_SHIVIZ is not set: the log is not loaded by ShiViz's own code (set it to a ShiViz checkout)")
		return
	}
	cmd := exec.Command(node, filepath.Join("testdata", "shiviz", "load.js"))
	cmd.Stdin = strings.NewReader(log)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), fmt.Sprintf("ok: %d events", want)) {
		t.Errorf("ShiViz's own parser and model: %s (%v), want ok: %d events", out, err, want)
	}
}
