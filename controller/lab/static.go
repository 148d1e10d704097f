package lab

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// tAttrs are the attributes of t besides the lab's hosts.
var tAttrs = []string{"catch", "check", "files", "go", "params", "raises", "say", "sleep", "hosts", "link"}

// reservedAttrs are t's own attributes, which no host may be named.
var reservedAttrs = func() map[string]bool {
	m := map[string]bool{}
	for _, a := range tAttrs {
		m[a] = true
	}
	return m
}()

// staticCheck finds, before anything runs, uses of t that cannot work: an attribute that
// is neither a host nor one of t's own, a check id that was never declared, and a
// parameter that does not exist (in every function, where a name like main's parameter
// is t); then what typeCheck finds.
func (l *Lab) staticCheck(src []byte) error {
	f, err := fileOptions.Parse(l.File, src, 0)
	if err != nil {
		return asLabError(err, l.File)
	}
	tname := ""
	if l.main.NumParams() == 1 {
		tname, _ = l.main.Param(0)
	}
	known := map[string]bool{}
	for _, h := range l.Hosts {
		known[h] = true
	}
	for _, a := range tAttrs {
		known[a] = true
	}
	checks := map[string]bool{}
	for _, c := range l.Checks {
		checks[c.ID] = true
	}
	params := map[string]bool{}
	for _, p := range l.Params {
		params[p.Name] = true
	}
	var problem *Error
	syntax.Walk(f, func(n syntax.Node) bool {
		if problem != nil {
			return false
		}
		switch n := n.(type) {
		case *syntax.DotExpr:
			if id, ok := n.X.(*syntax.Ident); ok && id.Name == tname && !known[n.Name.Name] {
				problem = &Error{Pos: n.Name.NamePos.String(), Msg: fmt.Sprintf("t has no host or attribute %q (hosts: %s; t also has %s)",
					n.Name.Name, strings.Join(l.Hosts, ", "), strings.Join(TAttrs(), ", "))}
			}
			if inner, ok := n.X.(*syntax.DotExpr); ok && inner.Name.Name == "params" {
				if id, ok := inner.X.(*syntax.Ident); ok && id.Name == tname && !params[n.Name.Name] {
					problem = &Error{Pos: n.Name.NamePos.String(), Msg: fmt.Sprintf("t.params has no %q (the lab declares: %s)", n.Name.Name, l.paramNames())}
				}
			}
		case *syntax.CallExpr:
			dot, ok := n.Fn.(*syntax.DotExpr)
			if !ok || dot.Name.Name != "check" || len(n.Args) == 0 {
				return true
			}
			if id, ok := dot.X.(*syntax.Ident); !ok || id.Name != tname {
				return true
			}
			if lit, ok := n.Args[0].(*syntax.Literal); ok && lit.Token == syntax.STRING {
				if s, _ := lit.Value.(string); !checks[s] {
					problem = &Error{Pos: lit.TokenPos.String(), Msg: fmt.Sprintf("check %q is not declared in lab(checks = ...) (declared: %s)", s, l.checkIDs())}
				}
			}
		}
		return true
	})
	if problem != nil {
		return problem
	}
	if problem := typeCheck(f, tname); problem != nil {
		return problem
	}
	return nil
}

func (l *Lab) checkIDs() string {
	if len(l.Checks) == 0 {
		return "none"
	}
	ids := make([]string, len(l.Checks))
	for i, c := range l.Checks {
		ids[i] = c.ID
	}
	return strings.Join(ids, ", ")
}

// loader loads the files a lab load()s, once each, with the same predeclared names as a
// lab minus lab() itself.
type loader struct {
	src   Sources
	steps *meter // the loading lab's
	cache map[string]*loaded
}

type loaded struct {
	globals starlark.StringDict
	err     error
}

func newLoader(src Sources, steps *meter) *loader {
	return &loader{src: src, steps: steps, cache: map[string]*loaded{}}
}

func (ld *loader) load(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	from := ""
	if fr := thread.CallFrame(0); fr.Pos.IsValid() {
		from = fr.Pos.Filename()
	}
	if !strings.HasSuffix(module, ".star") {
		// Refused before it is read, so that no other file's text can reach an error.
		return nil, &loadError{module: module, err: errors.New("not a .star file: load() reads Starlark files only")}
	}
	data, shown, err := ld.src.Read(from, module)
	if err != nil {
		return nil, &loadError{module: module, err: err}
	}
	if e, ok := ld.cache[shown]; ok {
		if e == nil {
			return nil, &loadError{module: module, err: errors.New("cycle in load graph")}
		}
		return e.globals, e.err
	}
	ld.cache[shown] = nil
	t := &starlark.Thread{Name: "load " + shown, Load: ld.load}
	ld.steps.attach(t)
	g, err := starlark.ExecFileOptions(fileOptions, t, shown, data, predeclared(false))
	if err == nil {
		if f, perr := fileOptions.Parse(shown, data, 0); perr != nil {
			err = perr
		} else if problem := typeCheck(f, ""); problem != nil {
			err = problem
		}
	}
	if err != nil {
		err = &loadError{module: module, err: asLabError(err, shown)}
	}
	ld.cache[shown] = &loaded{globals: g, err: err}
	return g, err
}

// loadError is a load() that failed: the file could not be read, or running it failed
// (then err is a *Error with the loaded file's own position).
type loadError struct {
	module string
	err    error
}

func (e *loadError) Error() string { return fmt.Sprintf("load %q: %v", e.module, e.err) }

func (e *loadError) Unwrap() error { return e.err }

// Names returns the names every lab can use without defining them, sorted: the socket
// constants, the helpers and lab().
func Names() []string {
	var out []string
	for k := range predeclared(true) {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TAttrs returns the attributes of t besides the lab's hosts, sorted.
func TAttrs() []string {
	out := append([]string(nil), tAttrs...)
	sort.Strings(out)
	return out
}

// HostAttrs returns the attributes of a lab host (t.<role>), sorted.
func HostAttrs() []string { return (&hostValue{}).AttrNames() }

// SocketAttrs returns the attributes and methods of a lab socket, sorted.
func SocketAttrs() []string { return (&socketValue{}).AttrNames() }

// ProcessAttrs returns the attributes and methods of a process (what host.spawn
// returns), sorted.
func ProcessAttrs() []string { return (&processValue{}).AttrNames() }

// FutureAttrs returns the methods of a future (what t.go returns), sorted.
func FutureAttrs() []string { return (&future{}).AttrNames() }
