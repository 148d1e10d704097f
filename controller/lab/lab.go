// Package lab loads and runs socklab labs: Starlark files whose sockets mirror Python's
// socket module, so that a lab reads like the tutorial it comes from.
//
// A lab declares itself with lab(name, summary, hosts, params, checks) and defines
// main(t). Loading runs the file's top level (no agent is touched), reads the
// declaration, and checks what can be checked statically: unknown hosts or attributes of
// t, and check ids that were never declared. Run then calls main(t) against an Env that
// performs each socket operation on the host's agent.
package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
)

// fileOptions are the Starlark dialect of labs: while loops and top-level control flow
// are allowed, as in Python.
var fileOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true}

// DefaultWatchdog bounds each blocking operation when the lab sets no watchdog.
const DefaultWatchdog = 5 * time.Second

// Lab is a loaded lab, ready to run.
type Lab struct {
	// Name is the lab's name.
	Name string
	// Summary says in one line what the lab shows.
	Summary string
	// Doc is the file's header docstring, if any.
	Doc string
	// Hosts are the lab's host roles, in declaration order.
	Hosts []string
	// Params are the lab's parameters with their defaults, sorted by name.
	Params []Param
	// Checks are the lab's declared checks, in declaration order.
	Checks []CheckDef
	// Watchdog bounds each blocking operation.
	Watchdog time.Duration
	// Timeout bounds the wall time of the lab's run (lab(timeout = ...)); 0 is none.
	Timeout time.Duration
	// Topologies are the topologies the lab runs on ("netns", "docker"); empty is every
	// one.
	Topologies []string
	// File is the lab's file name as errors show it.
	File string
	// FilesDir is the directory t.files reads a run's files from (socklab run --files);
	// "" means the lab's Reference directory, else the lab file's own directory, through
	// the lab's Sources.
	FilesDir string
	// Reference is the directory, relative to the lab file, of the lab's own solution
	// (lab(reference = ...)): what t.files reads when the run gives no files directory, so
	// that a grading lab run on its own shows its reference passing. "" for none.
	Reference string

	main    *starlark.Function
	sources Sources
	// budgets bound each run's steps and futures; loadSteps are the steps the lab's top
	// level took, which count against its runs' steps budget.
	budgets   runner.Budgets
	loadSteps uint64
}

// Param is a lab parameter.
type Param struct {
	// Name is the parameter's name.
	Name string
	// Default is its default value (int, float, string, bool or bytes).
	Default starlark.Value
}

// Type returns the parameter's Starlark type name ("int", "string", ...).
func (p Param) Type() string { return p.Default.Type() }

// CheckDef is a declared check.
type CheckDef struct {
	// ID is the check's slug.
	ID string
	// Description says what it verifies.
	Description string
	// Points is what it is worth (default 1).
	Points int
}

// Error is a problem with the lab itself, reported as "file:line:col: message".
type Error = runner.LabError

// Sources finds lab files and the files they load.
type Sources interface {
	// Read returns the file named name, relative to the directory of from ("" for a
	// lab itself), and the name to show in errors and to resolve its own loads against.
	Read(from, name string) (data []byte, shown string, err error)
}

// BuiltinPrefix starts the name of a built-in helper in load(), from any lab:
// load("@socklab//lib/net.star", "listener") reads the built-in labs' lib/net.star.
const BuiltinPrefix = "@socklab//"

// ErrOutside is a load() of a file outside the lab's folder tree.
var ErrOutside = errors.New("outside the lab's folder")

// DirSources reads labs from the filesystem. What a lab reads (its loads, its t.files) is
// relative to the reading file and within Root (symbolic links that lead out of it are
// refused), or a built-in helper named with BuiltinPrefix, from Builtin; the lab file
// itself may be anywhere.
type DirSources struct {
	// Root is the folder a lab's loads stay within, normally the lab file's own folder;
	// "" is the working directory.
	Root string
	// Builtin holds the files BuiltinPrefix names; nil refuses such loads.
	Builtin fs.FS
}

// Read reads name relative to from's directory.
func (s DirSources) Read(from, name string) ([]byte, string, error) {
	if from == "" {
		b, err := os.ReadFile(name)
		return b, name, err
	}
	if b, shown, ok, err := readBuiltin(s.Builtin, from, name); ok {
		return b, shown, err
	}
	root := s.Root
	if root == "" {
		root = "."
	}
	p := filepath.Join(filepath.Dir(from), name)
	rel, err := within(root, p)
	if filepath.IsAbs(name) {
		err = ErrOutside
	}
	if err != nil {
		if errors.Is(err, ErrOutside) {
			err = fmt.Errorf("%w (%s; the built-in helpers load as %q)", err, root, BuiltinPrefix+"lib/net.star")
		}
		return nil, "", err
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	b, err := r.ReadFile(rel)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		err = fmt.Errorf("%s: %w", p, pe.Err) // os.Root's "openat" says nothing to a lab's author
	}
	return b, p, err
}

// within returns p relative to root when p, its symbolic links followed, is in root's
// tree, and ErrOutside when it is not.
func within(root, p string) (string, error) {
	real := func(s string) (string, error) {
		s, err := filepath.Abs(s)
		if err != nil {
			return "", err
		}
		if r, err := filepath.EvalSymlinks(s); err == nil {
			return r, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return s, nil
	}
	rr, err := real(root)
	if err != nil {
		return "", err
	}
	rp, err := real(p)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(rr, rp)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", ErrOutside
	}
	return rel, nil
}

// readBuiltin reads a built-in helper from builtin: name with BuiltinPrefix, or a name
// relative to from when from is a built-in helper itself. ok is false for neither.
func readBuiltin(builtin fs.FS, from, name string) (b []byte, shown string, ok bool, err error) {
	var p string
	switch {
	case strings.HasPrefix(name, BuiltinPrefix):
		p = strings.TrimPrefix(name, BuiltinPrefix)
	case strings.HasPrefix(from, BuiltinPrefix) && !path.IsAbs(name):
		p = path.Join(path.Dir(strings.TrimPrefix(from, BuiltinPrefix)), name)
	default:
		return nil, "", false, nil
	}
	if builtin == nil || !fs.ValidPath(p) {
		return nil, "", true, fmt.Errorf("no built-in helper %s (they are %slib/*.star)", BuiltinPrefix+p, BuiltinPrefix)
	}
	b, err = fs.ReadFile(builtin, p)
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("no built-in helper %s (they are %slib/*.star)", BuiltinPrefix+p, BuiltinPrefix)
	}
	return b, BuiltinPrefix + p, true, err
}

// FSSources reads labs from an fs.FS, such as the embedded built-in labs: what a lab
// reads is relative to the reading file and in the FS, or a built-in helper named with
// BuiltinPrefix, from Builtin.
type FSSources struct {
	// FS holds the labs.
	FS fs.FS
	// Builtin holds the files BuiltinPrefix names; nil refuses such loads.
	Builtin fs.FS
}

// Read reads name relative to from's directory in the FS.
func (s FSSources) Read(from, name string) ([]byte, string, error) {
	if from == "" {
		b, err := fs.ReadFile(s.FS, name)
		return b, name, err
	}
	if b, shown, ok, err := readBuiltin(s.Builtin, from, name); ok {
		return b, shown, err
	}
	p := path.Join(path.Dir(from), name)
	if path.IsAbs(name) || !fs.ValidPath(p) {
		return nil, "", ErrOutside
	}
	b, err := fs.ReadFile(s.FS, p)
	return b, p, err
}

// Load reads the lab named name from src and checks it. Nothing runs but the file's top
// level. Its runs have the steps and futures of runner.DefaultBudgets.
func Load(src Sources, name string) (*Lab, error) {
	return LoadWithin(src, name, runner.DefaultBudgets)
}

// LoadWithin is Load with b's Steps and Futures budgets (zero: none): the top level and
// the files it loads count against the steps budget of each run, and a top level over
// it fails the load with a *runner.BudgetError.
func LoadWithin(src Sources, name string, b runner.Budgets) (*Lab, error) {
	data, shown, err := src.Read("", name)
	if err != nil {
		return nil, fmt.Errorf("read lab %s: %w", name, err)
	}
	l := &Lab{File: shown, sources: src, Watchdog: DefaultWatchdog, budgets: b}
	decl := &declaration{}
	var over *runner.BudgetError
	m := &meter{budget: b.Steps, over: func(th *starlark.Thread, err *runner.BudgetError) {
		if over == nil {
			over = &runner.BudgetError{Budget: err.Budget, Msg: err.Msg, Pos: innermost(th.CallStack(), shown)}
		}
	}}
	thread := &starlark.Thread{Name: "load " + shown, Load: newLoader(src, m).load}
	thread.SetLocal(declKey, decl)
	m.attach(thread)
	globals, err := starlark.ExecFileOptions(fileOptions, thread, shown, data, predeclared(true))
	if over != nil {
		return nil, over
	}
	if err != nil {
		return nil, asLabError(err, shown)
	}
	l.loadSteps = m.used.Load()
	if !decl.called {
		return nil, &Error{Pos: shown, Msg: `the lab does not declare itself: call lab(name = ..., summary = ..., hosts = [...]) at the top level`}
	}
	l.Name, l.Summary, l.Hosts, l.Params, l.Checks = decl.name, decl.summary, decl.hosts, decl.params, decl.checks
	l.Topologies, l.Reference = decl.topos, decl.ref
	if decl.watchdog > 0 {
		l.Watchdog = decl.watchdog
	}
	l.Timeout = decl.timeout
	l.Doc = docstring(data)
	mainFn, ok := globals["main"].(*starlark.Function)
	if !ok {
		return nil, &Error{Pos: shown, Msg: "the lab has no main function: define def main(t): ..."}
	}
	if mainFn.NumParams() != 1 {
		return nil, &Error{Pos: mainFn.Position().String(), Msg: fmt.Sprintf("main must take one parameter, t (it takes %d)", mainFn.NumParams())}
	}
	l.main = mainFn
	if err := l.staticCheck(data); err != nil {
		return nil, err
	}
	return l, nil
}

// declaration is what lab(...) recorded.
type declaration struct {
	called   bool
	name     string
	summary  string
	hosts    []string
	params   []Param
	checks   []CheckDef
	watchdog time.Duration
	timeout  time.Duration
	topos    []string
	ref      string
}

const declKey = "socklab.lab"

// labBuiltin is lab(name, summary, hosts, params = {}, checks = {}, watchdog = 5,
// topologies = None, reference = "", timeout = None).
func labBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	decl, _ := thread.Local(declKey).(*declaration)
	if decl == nil {
		return nil, fmt.Errorf("lab() declares a lab: call it at the top level of the lab's own file")
	}
	if decl.called {
		return nil, fmt.Errorf("lab() is called twice: a file declares one lab")
	}
	var (
		name, summary string
		hosts         *starlark.List
		params                       = &starlark.Dict{}
		checks                       = &starlark.Dict{}
		watchdog      starlark.Value = starlark.None
		timeout       starlark.Value = starlark.None
		topos         *starlark.List
		ref           string
	)
	if err := starlark.UnpackArgs("lab", args, kwargs, "name", &name, "summary", &summary, "hosts", &hosts,
		"params?", &params, "checks?", &checks, "watchdog?", &watchdog, "topologies?", &topos, "reference?", &ref, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if ref != "" && (!fs.ValidPath(ref) || ref == ".") {
		return nil, fmt.Errorf("lab: reference %q is not a directory relative to the lab file (no leading /, no ..)", ref)
	}
	decl.ref = ref
	if topos != nil {
		for i := range topos.Len() {
			s, ok := starlark.AsString(topos.Index(i))
			if !ok || !slices.Contains(runner.Topologies, s) {
				return nil, fmt.Errorf("lab: topologies: %s is not a topology: use %s", topos.Index(i), strings.Join(runner.Topologies, ", "))
			}
			decl.topos = append(decl.topos, s)
		}
		if len(decl.topos) == 0 {
			return nil, fmt.Errorf("lab: topologies is empty: leave it out to run on every topology")
		}
	}
	if name == "" {
		return nil, fmt.Errorf("lab: name is empty")
	}
	if hosts.Len() == 0 {
		return nil, fmt.Errorf("lab: hosts is empty: name at least one host")
	}
	seen := map[string]bool{}
	for i := range hosts.Len() {
		h, ok := starlark.AsString(hosts.Index(i))
		if !ok || !isIdent(h) {
			return nil, fmt.Errorf("lab: host %s is not a name: use identifiers such as \"server\"", hosts.Index(i))
		}
		if reservedAttrs[h] {
			return nil, fmt.Errorf("lab: host %q clashes with t.%s: choose another name", h, h)
		}
		if seen[h] {
			return nil, fmt.Errorf("lab: host %q is listed twice", h)
		}
		seen[h] = true
		decl.hosts = append(decl.hosts, h)
	}
	for _, item := range params.Items() {
		k, ok := starlark.AsString(item[0])
		if !ok || !isIdent(k) {
			return nil, fmt.Errorf("lab: param %s is not a name", item[0])
		}
		switch item[1].(type) {
		case starlark.Int, starlark.Float, starlark.String, starlark.Bool, starlark.Bytes:
		default:
			return nil, fmt.Errorf("lab: param %s has a %s default: use int, float, string, bool or bytes", k, item[1].Type())
		}
		decl.params = append(decl.params, Param{Name: k, Default: item[1]})
	}
	sort.Slice(decl.params, func(i, j int) bool { return decl.params[i].Name < decl.params[j].Name })
	for _, item := range checks.Items() {
		id, ok := starlark.AsString(item[0])
		if !ok || !isSlug(id) {
			return nil, fmt.Errorf("lab: check id %s is not a slug: use lowercase words joined by '-'", item[0])
		}
		c := CheckDef{ID: id, Points: 1}
		switch v := item[1].(type) {
		case starlark.String:
			c.Description = string(v)
		case starlark.Tuple:
			var desc string
			var pts int
			if len(v) != 2 || starlark.UnpackPositionalArgs("checks", v, nil, 2, &desc, &pts) != nil || pts < 0 {
				return nil, fmt.Errorf("lab: check %s: want a description or (description, points)", id)
			}
			c.Description, c.Points = desc, pts
		default:
			return nil, fmt.Errorf("lab: check %s: want a description or (description, points), not %s", id, v.Type())
		}
		decl.checks = append(decl.checks, c)
	}
	if watchdog != starlark.None {
		d, err := seconds(watchdog)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("lab: watchdog must be a positive number of seconds")
		}
		decl.watchdog = d
	}
	if timeout != starlark.None {
		d, err := seconds(timeout)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("lab: timeout must be a positive number of seconds")
		}
		decl.timeout = d
	}
	decl.name, decl.summary, decl.called = name, summary, true
	return starlark.None, nil
}

var _ runner.Lab = (*Lab)(nil)

// Info describes the lab for the runner.
func (l *Lab) Info() runner.Info {
	info := runner.Info{Name: l.Name, Summary: l.Summary, Hosts: append([]string(nil), l.Hosts...),
		Topologies: append([]string(nil), l.Topologies...), Timeout: l.Timeout}
	for _, c := range l.Checks {
		info.Checks = append(info.Checks, transcript.Check{ID: c.ID, Description: c.Description, MaxPoints: c.Points})
	}
	return info
}

// ParamValues resolves --param NAME=VALUE overrides, defaults included, as plain Go values:
// int64, float64, bool, string or []byte.
func (l *Lab) ParamValues(overrides []string) (map[string]any, error) {
	params, err := l.ParseParams(overrides)
	if err != nil {
		return nil, &Error{Msg: err.Error()}
	}
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = plainValue(v)
	}
	return out, nil
}

// plainValue is a parameter's Starlark value as a plain Go value; an int too large for
// int64 stays a Starlark value.
func plainValue(v starlark.Value) any {
	switch v := v.(type) {
	case starlark.Int:
		if n, ok := v.Int64(); ok {
			return n
		}
	case starlark.Float:
		return float64(v)
	case starlark.Bool:
		return bool(v)
	case starlark.String:
		return string(v)
	case starlark.Bytes:
		return []byte(v)
	}
	return v
}

// starlarkValue is the inverse of plainValue.
func starlarkValue(v any) starlark.Value {
	switch v := v.(type) {
	case int64:
		return starlark.MakeInt64(v)
	case int:
		return starlark.MakeInt(v)
	case float64:
		return starlark.Float(v)
	case bool:
		return starlark.Bool(v)
	case string:
		return starlark.String(v)
	case []byte:
		return starlark.Bytes(v)
	case starlark.Value:
		return v
	}
	return starlark.None
}

// ParseParams turns --param k=v strings into values of each parameter's declared type.
func (l *Lab) ParseParams(kv []string) (map[string]starlark.Value, error) {
	out := map[string]starlark.Value{}
	for _, p := range l.Params {
		out[p.Name] = p.Default
	}
	for _, s := range kv {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("--param %q: want NAME=VALUE", s)
		}
		def, known := out[k]
		if !known {
			return nil, fmt.Errorf("--param %s: the lab has no such parameter (it has: %s)", k, l.paramNames())
		}
		var val starlark.Value
		var err error
		switch def.(type) {
		case starlark.Int:
			var n int64
			n, err = strconv.ParseInt(v, 0, 64)
			val = starlark.MakeInt64(n)
		case starlark.Float:
			var f float64
			f, err = strconv.ParseFloat(v, 64)
			val = starlark.Float(f)
		case starlark.Bool:
			var b bool
			b, err = strconv.ParseBool(v)
			val = starlark.Bool(b)
		case starlark.Bytes:
			val = starlark.Bytes(v)
		default:
			val = starlark.String(v)
		}
		if err != nil {
			return nil, fmt.Errorf("--param %s=%s: want %s %s", k, v, article(def.Type()), def.Type())
		}
		out[k] = val
	}
	return out, nil
}

func (l *Lab) paramNames() string {
	if len(l.Params) == 0 {
		return "none"
	}
	names := make([]string, len(l.Params))
	for i, p := range l.Params {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

func article(s string) string {
	if strings.ContainsAny(s[:1], "aeiou") {
		return "an"
	}
	return "a"
}

// asLabError turns a Starlark error into a lab error with the innermost lab position.
func asLabError(err error, file string) error {
	var ee *starlark.EvalError
	var lde *loadError
	if errors.As(err, &ee) && errors.As(err, &lde) {
		return &Error{Pos: innermost(ee.CallStack, file), Msg: lde.Error()}
	}
	var se syntax.Error
	if errors.As(err, &se) {
		return &Error{Pos: se.Pos.String(), Msg: se.Msg}
	}
	if errors.As(err, &ee) {
		return &Error{Pos: innermost(ee.CallStack, file), Msg: ee.Msg}
	}
	var rl resolve.ErrorList
	if errors.As(err, &rl) && len(rl) > 0 {
		return &Error{Pos: rl[0].Pos.String(), Msg: rl[0].Msg}
	}
	var le *Error
	if errors.As(err, &le) {
		return le
	}
	return &Error{Pos: file, Msg: err.Error()}
}

// innermost returns the position of the innermost frame that is in a source file.
func innermost(stack starlark.CallStack, fallback string) string {
	for i := range stack {
		if f := stack.At(i); f.Pos.IsValid() && f.Pos.Filename() != "<builtin>" {
			return f.Pos.String()
		}
	}
	return fallback
}

// docstring returns the file's leading string literal, if any.
func docstring(src []byte) string {
	f, err := fileOptions.Parse("doc", src, 0)
	if err != nil || len(f.Stmts) == 0 {
		return ""
	}
	if es, ok := f.Stmts[0].(*syntax.ExprStmt); ok {
		if lit, ok := es.X.(*syntax.Literal); ok && lit.Token == syntax.STRING {
			if s, ok := lit.Value.(string); ok {
				return strings.TrimSpace(s)
			}
		}
	}
	return ""
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func isSlug(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// seconds reads an int or float number of seconds.
func seconds(v starlark.Value) (time.Duration, error) {
	f, ok := starlark.AsFloat(v)
	if !ok {
		return 0, fmt.Errorf("want a number of seconds, not %s", v.Type())
	}
	if f != f || f < 0 || f > 1e6 { // f != f: NaN
		return 0, fmt.Errorf("%v seconds is out of range", f)
	}
	return time.Duration(f * float64(time.Second)), nil
}
