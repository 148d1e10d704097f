package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// spawn(argv, files = None, stdin = False, env = None, cwd = "", limits = None,
// watchdog = SECONDS) starts a program on this host, as a contained job of the run's
// session, and returns it as a process: Python's subprocess.Popen(argv, cwd = cwd, env = env).
func (h *hostValue) spawn(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var argv, files, env, limits, wd starlark.Value = nil, starlark.None, starlark.None, starlark.None, starlark.None
	var stdin bool
	var cwd string
	if err := starlark.UnpackArgs("spawn", args, kwargs, "argv", &argv, "files?", &files, "stdin?", &stdin,
		"env?", &env, "cwd?", &cwd, "limits?", &limits, "watchdog?", &wd); err != nil {
		return nil, err
	}
	op := &socklabv1.SpawnOp{Stdin: stdin, Cwd: cwd}
	var err error
	if op.Argv, err = stringList("spawn", "argv", argv); err != nil {
		return nil, err
	}
	if len(op.Argv) == 0 {
		return nil, fmt.Errorf(`spawn: argv is empty: give the program and its arguments, ["python3", "server.py"]`)
	}
	if op.Files, err = fileDict(files); err != nil {
		return nil, err
	}
	if op.Env, err = envDict(env); err != nil {
		return nil, err
	}
	if op.Limits, err = limitsDict(limits); err != nil {
		return nil, err
	}
	resp, err := h.perform(th, 0, h.role, &socklabv1.Operation{Op: &socklabv1.Operation_Spawn{Spawn: op}}, "spawn", "watchdog", wd)
	if err != nil {
		return nil, err
	}
	res := resp.GetEvent().GetResult()
	handle := res.GetHandle()
	if handle == 0 {
		handle = resp.GetEvent().GetHandle()
	}
	return &processValue{host: h, handle: handle, pid: res.GetValue(), program: op.Argv[0]}, nil
}

// build(argv, files = None, timeout = SECONDS) runs a build step on this host, such as
// ["cc", "-o", "server", "server.c"] or ["make"], in the session's directory, waits for it
// and returns what happened: ok (it exited 0), code (its returncode), stdout, stderr, and
// message (for a check: "cc exited 1: server.c:3:1: error: ..."). A failed build is a
// value, not an error, so that a lab can grade it; its output is in the transcript.
func (h *hostValue) build(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var argv, files, timeout starlark.Value = nil, starlark.None, starlark.None
	if err := starlark.UnpackArgs("build", args, kwargs, "argv", &argv, "files?", &files, "timeout?", &timeout); err != nil {
		return nil, err
	}
	pv, err := h.spawn(th, b, starlark.Tuple{argv}, []starlark.Tuple{{starlark.String("files"), files}})
	if err != nil {
		return nil, err
	}
	p := pv.(*processValue)
	code, err := p.wait(th, nil, []starlark.Tuple{{starlark.String("timeout"), timeout}})
	if err != nil {
		return nil, err
	}
	out, err := p.stdout(th, nil, nil)
	if err != nil {
		return nil, err
	}
	errOut, err := p.stderr(th, nil, nil)
	if err != nil {
		return nil, err
	}
	rc, _ := starlark.AsInt32(code)
	msg := fmt.Sprintf("%s exited %d", p.program, rc)
	if first := firstLines(string(errOut.(starlark.Bytes)), 3); first != "" {
		msg += ": " + first
	} else if first := firstLines(string(out.(starlark.Bytes)), 3); first != "" {
		msg += ": " + first
	}
	return starlarkstruct.FromStringDict(starlark.String("build"), starlark.StringDict{
		"ok": starlark.Bool(rc == 0), "code": code, "stdout": out, "stderr": errOut, "message": starlark.String(msg),
	}), nil
}

// firstLines returns the first n non-empty lines of s, joined by " / ".
func firstLines(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			keep = append(keep, l)
			if len(keep) == n {
				break
			}
		}
	}
	return strings.Join(keep, " / ")
}

// stringList reads a list or tuple of strings: a program's argv. A single str is
// refused, as Python's Popen would take it for the program's name.
func stringList(fn, what string, v starlark.Value) ([]string, error) {
	seq, ok := v.(starlark.Indexable)
	if _, isStr := v.(starlark.String); isStr || !ok {
		return nil, fmt.Errorf(`%s: %s must be a list of strings, such as ["python3", "server.py"], not %s`, fn, what, v.Type())
	}
	out := make([]string, seq.Len())
	for i := range out {
		s, ok := starlark.AsString(seq.Index(i))
		if !ok {
			return nil, fmt.Errorf("%s: %s[%d] must be a string, not %s", fn, what, i, seq.Index(i).Type())
		}
		out[i] = s
	}
	return out, nil
}

// fileDict reads spawn's files: None, or a dict of plain names to bytes (what t.files
// returns).
func fileDict(v starlark.Value) (map[string][]byte, error) {
	if v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("spawn: files must be a dict of names to bytes, such as t.files(\"server.py\"), not %s", v.Type())
	}
	out := make(map[string][]byte, d.Len())
	for _, kv := range d.Items() {
		name, ok := starlark.AsString(kv[0])
		if !ok {
			return nil, fmt.Errorf("spawn: files: a file's name must be a string, not %s", kv[0].Type())
		}
		b, err := data(kv[1])
		if err != nil {
			// A mistake in the lab's files, not an exception for the lab to catch.
			return nil, fmt.Errorf("spawn: files[%q]: %v", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// envDict reads spawn's env: None, or a dict of strings to strings.
func envDict(v starlark.Value) (map[string]string, error) {
	if v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("spawn: env must be a dict of strings to strings, not %s", v.Type())
	}
	out := make(map[string]string, d.Len())
	for _, kv := range d.Items() {
		k, ok1 := starlark.AsString(kv[0])
		val, ok2 := starlark.AsString(kv[1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("spawn: env: names and values must be strings, as in os.environ, not %s: %s", kv[0].Type(), kv[1].Type())
		}
		out[k] = val
	}
	return out, nil
}

// limitKeys are the keys of spawn's limits, in the order a message lists them.
var limitKeys = []string{"cpu", "memory", "processes", "open_files", "output", "wall"}

// limitsDict reads spawn's limits: None, or a dict such as {"cpu": 2, "memory": 64 << 20,
// "wall": 30}: CPU and wall time in seconds, memory and output in bytes, processes and
// open files as counts.
func limitsDict(v starlark.Value) (*socklabv1.ProcessLimits, error) {
	if v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf(`spawn: limits must be a dict such as {"cpu": 2, "wall": 30}, not %s`, v.Type())
	}
	l := &socklabv1.ProcessLimits{}
	for _, kv := range d.Items() {
		k, _ := starlark.AsString(kv[0])
		var n float64
		switch x := kv[1].(type) {
		case starlark.Int:
			i, ok := x.Int64()
			if !ok {
				return nil, fmt.Errorf("spawn: limits[%s] is too large", kv[0])
			}
			n = float64(i)
		case starlark.Float:
			n = float64(x)
		default:
			return nil, fmt.Errorf("spawn: limits[%s] must be a number, not %s", kv[0], kv[1].Type())
		}
		if n <= 0 {
			return nil, fmt.Errorf("spawn: limits[%s] is %v: give a positive number", kv[0], kv[1])
		}
		switch k {
		case "cpu":
			l.CpuSeconds = n
		case "wall":
			l.WallSeconds = n
		case "memory":
			l.MemoryBytes = int64(n)
		case "output":
			l.OutputBytes = int64(n)
		case "processes":
			l.Processes = int32(min(n, 1<<30))
		case "open_files":
			l.OpenFiles = int32(min(n, 1<<30))
		default:
			return nil, fmt.Errorf("spawn: limits has no key %s: use %s", kv[0], strings.Join(limitKeys, ", "))
		}
	}
	return l, nil
}

// processValue is a program running on a lab host, as host.spawn returns it: Python's
// subprocess.Popen, with what a lab needs to probe a program under test.
type processValue struct {
	host    *hostValue
	handle  uint32
	pid     int64  // the program's pid on its host
	program string // argv[0]
}

var _ starlark.HasAttrs = (*processValue)(nil)

func (p *processValue) String() string {
	return fmt.Sprintf("<process %s %s pid %d>", p.where(), p.program, p.pid)
}
func (p *processValue) Type() string          { return "process" }
func (p *processValue) Freeze()               {}
func (p *processValue) Truth() starlark.Bool  { return true }
func (p *processValue) Hash() (uint32, error) { return uint32(p.handle) ^ 0x7f4a7c15, nil }

// where names the process in errors: "server/p3".
func (p *processValue) where() string { return fmt.Sprintf("%s/p%d", p.host.role, p.handle) }

// processMethods are the methods of a process, each named as the operation it performs
// (wait_bound is wait_listening for a datagram socket).
var processMethods = map[string]func(*processValue, *starlark.Thread, starlark.Tuple, []starlark.Tuple) (starlark.Value, error){
	"write":          (*processValue).write,
	"close_stdin":    (*processValue).closeStdin,
	"signal":         (*processValue).signal,
	"kill":           (*processValue).kill,
	"wait":           (*processValue).wait,
	"stdout":         (*processValue).stdout,
	"stderr":         (*processValue).stderr,
	"cpu_seconds":    (*processValue).cpuSeconds,
	"rss":            (*processValue).rss,
	"alive":          (*processValue).alive,
	"wait_output":    (*processValue).waitOutput,
	"wait_listening": (*processValue).waitListening,
	"wait_bound":     (*processValue).waitBound,
}

func (p *processValue) AttrNames() []string {
	names := []string{"handle", "host", "pid"}
	for k := range processMethods {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (p *processValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "host":
		return p.host, nil
	case "handle":
		return starlark.MakeUint(uint(p.handle)), nil
	case "pid":
		return starlark.MakeInt64(p.pid), nil
	}
	m, ok := processMethods[name]
	if !ok {
		return nil, nil
	}
	return starlark.NewBuiltin(name, func(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		return m(p, th, args, kwargs)
	}), nil
}

// call performs an operation on the process; wdName is the keyword that bounds it
// ("watchdog", or "timeout" for the waits).
func (p *processValue) call(th *starlark.Thread, name string, op *socklabv1.Operation, wdName string, wd starlark.Value) (*socklabv1.Result, error) {
	resp, err := p.host.perform(th, p.handle, p.where(), op, name, wdName, wd)
	if err != nil {
		return nil, err
	}
	return resp.GetEvent().GetResult(), nil
}

// simple performs an operation that takes no arguments but the watchdog.
func (p *processValue) simple(th *starlark.Thread, name string, op *socklabv1.Operation, args starlark.Tuple, kwargs []starlark.Tuple) (*socklabv1.Result, error) {
	var wd starlark.Value = starlark.None
	if err := starlark.UnpackArgs(name, args, kwargs, "watchdog?", &wd); err != nil {
		return nil, err
	}
	return p.call(th, name, op, "watchdog", wd)
}

// write(data) writes to the process's standard input (spawned with stdin = True) and
// returns how many bytes it wrote.
func (p *processValue) write(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var d, wd starlark.Value = nil, starlark.None
	if err := starlark.UnpackArgs("write", args, kwargs, "data", &d, "watchdog?", &wd); err != nil {
		return nil, err
	}
	b, err := data(d)
	if err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	res, err := p.call(th, "write", &socklabv1.Operation{Op: &socklabv1.Operation_Write{Write: &socklabv1.WriteOp{Data: b}}}, "watchdog", wd)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt64(res.GetValue()), nil
}

// close_stdin() closes the process's standard input: its next read returns EOF.
func (p *processValue) closeStdin(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	_, err := p.simple(th, "close_stdin", &socklabv1.Operation{Op: &socklabv1.Operation_CloseStdin{CloseStdin: &socklabv1.CloseStdinOp{}}}, args, kwargs)
	return starlark.None, err
}

// signal(name) sends the signal named name ("SIGTERM", "SIGINT") to the process.
func (p *processValue) signal(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var wd starlark.Value = starlark.None
	if err := starlark.UnpackArgs("signal", args, kwargs, "name", &name, "watchdog?", &wd); err != nil {
		return nil, err
	}
	if _, ok := signalNumbers[name]; !ok {
		return nil, fmt.Errorf("signal: %q is not a signal's name, such as \"SIGTERM\" or \"SIGINT\"", name)
	}
	_, err := p.call(th, "signal", &socklabv1.Operation{Op: &socklabv1.Operation_Signal{Signal: &socklabv1.SignalOp{Name: name}}}, "watchdog", wd)
	return starlark.None, err
}

// kill() ends the process and everything it started, at once.
func (p *processValue) kill(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	_, err := p.simple(th, "kill", &socklabv1.Operation{Op: &socklabv1.Operation_Kill{Kill: &socklabv1.KillOp{}}}, args, kwargs)
	return starlark.None, err
}

// wait(timeout = SECONDS) waits for the process to end and returns its exit status as
// Python's Popen.returncode is: the exit code, or minus the number of the signal that
// ended it (-15 for SIGTERM). timeout bounds the wait instead of the lab's watchdog.
func (p *processValue) wait(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var timeout starlark.Value = starlark.None
	if err := starlark.UnpackArgs("wait", args, kwargs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	res, err := p.call(th, "wait", &socklabv1.Operation{Op: &socklabv1.Operation_Wait{Wait: &socklabv1.WaitOp{}}}, "timeout", timeout)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt(returncode(res.GetExit())), nil
}

// returncode is Python's Popen.returncode for how a process ended: its exit code, or
// minus its signal's number.
func returncode(e *socklabv1.ProcessExit) int {
	if n, ok := signalNumbers[e.GetSignal()]; ok {
		return -n
	}
	return int(e.GetCode())
}

// signalNumbers are Linux's signal numbers, by name: agents run on Linux, and Python's
// returncode is minus the number.
var signalNumbers = map[string]int{
	"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGBUS": 7,
	"SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13,
	"SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19,
	"SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
	"SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30, "SIGSYS": 31,
}

// stdout() returns what the process wrote to its standard output so far.
func (p *processValue) stdout(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	res, err := p.simple(th, "stdout", &socklabv1.Operation{Op: &socklabv1.Operation_Stdout{Stdout: &socklabv1.OutputOp{}}}, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.Bytes(res.GetBytesValue()), nil
}

// stderr() returns what the process wrote to its standard error so far.
func (p *processValue) stderr(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	res, err := p.simple(th, "stderr", &socklabv1.Operation{Op: &socklabv1.Operation_Stderr{Stderr: &socklabv1.OutputOp{}}}, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.Bytes(res.GetBytesValue()), nil
}

// cpu_seconds() returns the CPU time the process and its children used so far.
func (p *processValue) cpuSeconds(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	res, err := p.simple(th, "cpu_seconds", &socklabv1.Operation{Op: &socklabv1.Operation_CpuSeconds{CpuSeconds: &socklabv1.CpuSecondsOp{}}}, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.Float(res.GetSeconds()), nil
}

// rss() returns the resident memory of the process and its children, in bytes.
func (p *processValue) rss(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	res, err := p.simple(th, "rss", &socklabv1.Operation{Op: &socklabv1.Operation_Rss{Rss: &socklabv1.RssOp{}}}, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.MakeInt64(res.GetValue()), nil
}

// alive() reports whether the process still runs.
func (p *processValue) alive(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	res, err := p.simple(th, "alive", &socklabv1.Operation{Op: &socklabv1.Operation_Alive{Alive: &socklabv1.AliveOp{}}}, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.Bool(res.GetValue() != 0), nil
}

// wait_output(pattern, timeout = SECONDS, stderr = False) waits until the process's
// standard output (or error) holds pattern, bytes to find as they are or a str regular
// expression (RE2 syntax), and returns the bytes that matched.
func (p *processValue) waitOutput(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, timeout starlark.Value = nil, starlark.None
	var stderr bool
	if err := starlark.UnpackArgs("wait_output", args, kwargs, "pattern", &pattern, "timeout?", &timeout, "stderr?", &stderr); err != nil {
		return nil, err
	}
	w := &socklabv1.WaitOutputOp{Stderr: stderr}
	switch v := pattern.(type) {
	case starlark.Bytes:
		if len(v) == 0 {
			return nil, fmt.Errorf("wait_output: pattern is empty: give the bytes to wait for")
		}
		w.Literal = []byte(v)
	case starlark.String:
		if v == "" {
			return nil, fmt.Errorf("wait_output: pattern is empty: give a regular expression to wait for")
		}
		if _, err := regexp.Compile(string(v)); err != nil {
			return nil, fmt.Errorf("wait_output: pattern %s is no regular expression: %w", v.String(), err)
		}
		w.Regexp = string(v)
	default:
		return nil, fmt.Errorf("wait_output: pattern must be bytes (found as they are) or a str (a regular expression), not %s", pattern.Type())
	}
	res, err := p.call(th, "wait_output", &socklabv1.Operation{Op: &socklabv1.Operation_WaitOutput{WaitOutput: w}}, "timeout", timeout)
	if err != nil {
		return nil, err
	}
	return starlark.Bytes(res.GetBytesValue()), nil
}

// wait_listening(port, proto = "tcp", timeout = SECONDS) waits until the process (or a
// child of it) has a TCP socket listening on port, or a UDP socket bound to it, as the
// kernel's table shows, never by connecting; it returns the rows as host.ss does.
func (p *processValue) waitListening(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return p.waitPort(th, "wait_listening", "tcp", args, kwargs)
}

// wait_bound(port, proto = "udp", timeout = SECONDS) is wait_listening for a datagram
// server, which binds and never listens.
func (p *processValue) waitBound(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return p.waitPort(th, "wait_bound", "udp", args, kwargs)
}

func (p *processValue) waitPort(th *starlark.Thread, name, proto string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var port int
	var timeout starlark.Value = starlark.None
	if err := starlark.UnpackArgs(name, args, kwargs, "port", &port, "proto?", &proto, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("%s: port must be 1-65535", name)
	}
	if proto != "tcp" && proto != "udp" {
		return nil, fmt.Errorf(`%s: proto %q: use "tcp" or "udp"`, name, proto)
	}
	op := &socklabv1.Operation{Op: &socklabv1.Operation_WaitListening{WaitListening: &socklabv1.WaitListeningOp{Port: uint32(port), Protocol: proto}}}
	res, err := p.call(th, "wait_listening", op, "timeout", timeout)
	if err != nil {
		return nil, err
	}
	return socketRows(res.GetSockets()), nil
}

// files(*names, missing_ok = False) reads the named files of the run's files directory
// and returns them as a dict {basename: bytes}, for host.spawn(files = ...); with
// missing_ok, a missing file is left out instead of stopping the lab.
func (t *tValue) files(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	missingOK := false
	for _, kv := range kwargs {
		k, _ := starlark.AsString(kv[0])
		v, ok := kv[1].(starlark.Bool)
		if k != "missing_ok" || !ok {
			return nil, fmt.Errorf("files: takes file names and missing_ok = True or False only")
		}
		missingOK = bool(v)
	}
	d := starlark.NewDict(len(args))
	from := map[string]string{}
	for _, a := range args {
		name, ok := starlark.AsString(a)
		if !ok {
			return nil, fmt.Errorf("files: a file name must be a string, not %s", a.Type())
		}
		data, err := t.r.lab.readFile(name)
		if missingOK && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
		base := path.Base(name)
		if prev, dup := from[base]; dup {
			return nil, fmt.Errorf("files: %q and %q would both be %s in the program's directory", prev, name, base)
		}
		from[base] = name
		if err := d.SetKey(starlark.String(base), starlark.Bytes(data)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// readFile reads a file for t.files: name is relative to FilesDir when it is set, else to
// the lab's reference directory when it declares one, else to the lab file's own
// directory (for a built-in lab, the embedded labs). A missing file's error wraps
// fs.ErrNotExist.
func (l *Lab) readFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) || name == "." {
		return nil, fmt.Errorf("%q is not a relative file name (no leading /, no ..)", name)
	}
	if l.FilesDir != "" {
		b, err := fs.ReadFile(os.DirFS(l.FilesDir), name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, missingFile("no file " + filepath.Join(l.FilesDir, name))
		}
		return b, err
	}
	where := "the lab's own directory"
	if l.Reference != "" {
		name, where = path.Join(l.Reference, name), "the lab's reference directory, "+l.Reference
	}
	b, shown, err := l.sources.Read(l.File, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, missingFile(fmt.Sprintf("no file %s (file names are relative to %s)", shown, where))
	}
	return b, err
}

// missingFile is a file t.files did not find: its message names it, and it is an
// fs.ErrNotExist.
type missingFile string

func (e missingFile) Error() string        { return string(e) }
func (e missingFile) Is(target error) bool { return target == fs.ErrNotExist }
