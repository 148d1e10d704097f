package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/socklab/socklab/controller/pyrepr"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Programs under test: starting one, talking to it, waiting for it, watching it.
func init() {
	registerProcess("spawn", operation{
		makes: true,
		// The files show by name only ({'server.py': ...}): their bytes are the lab's. An
		// argument longer than a payload's preview (a program given to python3 -c) is cut
		// as a payload is; shorter ones, addresses and ports, stay whole.
		args: func(ev *socklabv1.Event, max int) []string {
			s := ev.GetOperation().GetSpawn()
			argv := make([]string, len(s.GetArgv()))
			for i, a := range s.GetArgv() {
				argv[i] = pyrepr.Str(a)
				if utf8.RuneCountInString(a) > PreviewMax {
					argv[i] = strPreview(a, max)
				}
			}
			args := []string{"[" + strings.Join(argv, ", ") + "]"}
			if files := s.GetFiles(); len(files) > 0 {
				names := sortedKeys(files)
				for i, n := range names {
					names[i] = pyrepr.Str(n) + ": ..."
				}
				args = append(args, "files = {"+strings.Join(names, ", ")+"}")
			}
			if s.GetStdin() {
				args = append(args, "stdin = True")
			}
			if env := s.GetEnv(); len(env) > 0 {
				kv := sortedKeys(env)
				for i, k := range kv {
					kv[i] = pyrepr.Str(k) + ": " + pyrepr.Str(env[k])
					if utf8.RuneCountInString(env[k]) > PreviewMax {
						kv[i] = pyrepr.Str(k) + ": " + strPreview(env[k], max)
					}
				}
				args = append(args, "env = {"+strings.Join(kv, ", ")+"}")
			}
			if cwd := s.GetCwd(); cwd != "" {
				args = append(args, "cwd = "+pyrepr.Str(cwd))
			}
			if l := limitsText(s.GetLimits()); l != "" {
				args = append(args, "limits = "+l)
			}
			return args
		},
		// The new process and its pid on the host; the agent may put the handle on the
		// event instead of the result.
		result: func(ev *socklabv1.Event, _ int) string {
			res := ev.GetResult()
			h := res.GetHandle()
			if h == 0 {
				h = ev.GetHandle()
			}
			return fmt.Sprintf("%s (pid %d)", processHandle(h), res.GetValue())
		},
	})
	registerProcess("write", operation{
		args: func(ev *socklabv1.Event, max int) []string {
			return []string{sent(ev, ev.GetOperation().GetWrite().GetData(), max)}
		},
		result: value,
	})
	registerProcess("close_stdin", operation{})
	registerProcess("signal", operation{
		args: func(ev *socklabv1.Event, _ int) []string {
			return []string{pyrepr.Str(ev.GetOperation().GetSignal().GetName())}
		},
	})
	registerProcess("kill", operation{})
	registerProcess("wait", operation{
		result: func(ev *socklabv1.Event, _ int) string { return exitText(ev.GetResult().GetExit()) },
	})
	registerProcess("stdout", operation{result: output})
	registerProcess("stderr", operation{result: output})
	registerProcess("cpu_seconds", operation{
		result: func(ev *socklabv1.Event, _ int) string { return pyrepr.Float(ev.GetResult().GetSeconds()) },
	})
	registerProcess("rss", operation{result: value})
	registerProcess("alive", operation{
		result: func(ev *socklabv1.Event, _ int) string { return pyrepr.Bool(ev.GetResult().GetValue() != 0) },
	})
	registerProcess("wait_output", operation{
		// A literal pattern is bytes and a regular expression a str, as a lab passes them.
		args: func(ev *socklabv1.Event, max int) []string {
			w := ev.GetOperation().GetWaitOutput()
			pattern := pyrepr.Bytes(w.GetLiteral(), 0, max)
			if len(w.GetLiteral()) == 0 {
				pattern = regexpRepr(w.GetRegexp())
			}
			args := []string{pattern}
			if w.GetStderr() {
				args = append(args, "stderr = True")
			}
			return args
		},
		result: func(ev *socklabv1.Event, max int) string {
			return pyrepr.Bytes(ev.GetResult().GetBytesValue(), 0, max)
		},
	})
	registerProcess("wait_listening", operation{
		// TCP, the default, is left out.
		args: func(ev *socklabv1.Event, _ int) []string {
			w := ev.GetOperation().GetWaitListening()
			args := []string{count(w.GetPort())}
			if p := w.GetProtocol(); p != "" && p != "tcp" {
				args = append(args, pyrepr.Str(p))
			}
			return args
		},
		result: func(ev *socklabv1.Event, _ int) string { return ssRows(ev.GetResult().GetSockets()) },
	})
}

// registerProcess registers op as a process operation.
func registerProcess(name string, op operation) {
	op.process = true
	register(name, op)
}

// The background events a process sends on its session's stream carry no Operation; their
// op names them.
const (
	// opOutput is a chunk of the process's output: note says "stdout" or "stderr", the
	// payload holds the chunk.
	opOutput = "output"
	// opExit is the process's end: note says how it ended ("exit 0", "SIGTERM").
	opExit = "exit"
)

// isProcess reports whether ev is about a process, so that its handle is a process's: its
// operation is spawn or a process's method, or it is a process's background output or
// exit. Agents number a session's sockets and processes from one counter, so the event
// alone tells, with no memory of the spawn.
func isProcess(ev *socklabv1.Event) bool {
	if _, op, ok := operationOf(ev); ok {
		return op.process
	}
	return ev.GetOperation().GetOp() == nil && ev.GetKind() == socklabv1.EventKind_EVENT_KIND_BACKGROUND &&
		(ev.GetOp() == opOutput || ev.GetOp() == opExit)
}

// limitsText writes spawn's limits as the lab gave them: {"cpu": 2, "wall": 30}.
func limitsText(l *socklabv1.ProcessLimits) string {
	var kv []string
	num := func(key string, v float64) {
		switch {
		case v == 0:
		case v == float64(int64(v)):
			kv = append(kv, pyrepr.Str(key)+": "+strconv.FormatInt(int64(v), 10))
		default:
			kv = append(kv, pyrepr.Str(key)+": "+pyrepr.Float(v))
		}
	}
	whole := func(key string, v int64) {
		if v != 0 {
			kv = append(kv, pyrepr.Str(key)+": "+strconv.FormatInt(v, 10))
		}
	}
	num("cpu", l.GetCpuSeconds())
	whole("memory", l.GetMemoryBytes())
	whole("processes", int64(l.GetProcesses()))
	whole("open_files", int64(l.GetOpenFiles()))
	whole("output", l.GetOutputBytes())
	num("wall", l.GetWallSeconds())
	if len(kv) == 0 {
		return ""
	}
	return "{" + strings.Join(kv, ", ") + "}"
}

// processHandle returns a process handle as a variable name, "p3".
func processHandle(h uint32) string { return "p" + strconv.FormatUint(uint64(h), 10) }

// exitText says how a process ended, as a person reads it: "exit 0", "SIGTERM", or with
// the agent's reason for ending it, "SIGKILL (wall time limit (60s))".
func exitText(e *socklabv1.ProcessExit) string {
	s := "exit " + strconv.Itoa(int(e.GetCode()))
	if e.GetSignal() != "" {
		s = e.GetSignal()
	}
	why := e.GetLimits()
	if e.GetReason() != "" {
		why = append([]string{e.GetReason()}, why...)
	}
	if len(why) > 0 {
		s += " (" + strings.Join(why, "; ") + ")"
	}
	return s
}

// output returns what stdout() and stderr() return: the stream's bytes so far, and how
// many the program wrote when the agent kept only the first part.
func output(ev *socklabv1.Event, preview int) string {
	res := ev.GetResult()
	kept := res.GetBytesValue()
	s := pyrepr.Bytes(kept, uint64(len(kept)), preview)
	if total := res.GetValue(); total > int64(len(kept)) {
		s += fmt.Sprintf(" of %d written", total)
	}
	return s
}

// regexpRepr writes a regular expression as Python code would: a raw string when it holds
// a backslash and a raw string can say it (r'listening on \d+'), else a plain str.
func regexpRepr(re string) string {
	if !strings.Contains(re, `\`) {
		return pyrepr.Str(re)
	}
	q := "'"
	if strings.Contains(re, "'") {
		q = `"`
	}
	// A raw string cannot end in an odd backslash, and shows every other character as it
	// is: the str's repr must differ only in doubling the backslashes.
	trailing := len(re) - len(strings.TrimRight(re, `\`))
	if trailing%2 == 1 || pyrepr.Str(re) != q+strings.ReplaceAll(re, `\`, `\\`)+q {
		return pyrepr.Str(re)
	}
	return "r" + q + re + q
}

// strPreview returns s as Python's repr prints a str, cut when its content is longer
// than max characters (max > 0) to the longest start of s whose repr fits, and followed
// by "... (N characters)", as pyrepr.Bytes cuts a payload.
func strPreview(s string, max int) string {
	full := pyrepr.Str(s)
	if max <= 0 || utf8.RuneCountInString(full)-2 <= max {
		return full
	}
	r := []rune(s)
	fits := func(n int) bool { return utf8.RuneCountInString(pyrepr.Str(string(r[:n])))-2 <= max }
	n := sort.Search(len(r)+1, func(n int) bool { return !fits(n) }) - 1 // fits(0) holds
	return fmt.Sprintf("%s... (%d characters)", pyrepr.Str(string(r[:n])), len(r))
}

// sortedKeys returns m's keys in order, so that a call reads the same every run.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
