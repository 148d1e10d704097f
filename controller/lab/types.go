package lab

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"go.starlark.net/syntax"
)

// valueAttrs returns the attributes of the lab values whose type a static look can tell,
// by type name. It asks the values themselves each time, as operations registered by
// init functions (after package variables are set) add methods to them.
func valueAttrs() map[string][]string {
	return map[string][]string{
		"host":    HostAttrs(),
		"socket":  SocketAttrs(),
		"process": ProcessAttrs(),
		"future":  FutureAttrs(),
		"link":    LinkAttrs(),
	}
}

// hostSocketMakers are the host's methods that return one socket.
var hostSocketMakers = []string{"socket", "create_connection", "create_server"}

// bytesMethods are the socket methods whose first argument is the bytes to send.
var bytesMethods = []string{"send", "sendall", "sendto"}

// typeCheck finds, before anything runs, what fails as soon as it runs whatever the
// network does: an attribute that a host, socket, process, future or link does not have,
// on a value whose type is plain from the code (t.<host>, host.socket(...) and
// host.create_connection/create_server(...), the first of socket.accept(),
// host.spawn(...), t.go(...), t.link(...), and local variables
// assigned only those), and a str literal given to send, sendall or sendto. Each
// function is looked at on its own; a variable assigned anything else, a parameter and
// a loop variable have no known type, so nothing is reported about them. tname is the
// name of main's parameter, t ("" in a loaded file, where t is not known).
func typeCheck(f *syntax.File, tname string) *Error {
	var problem *Error
	syntax.Walk(f, func(n syntax.Node) bool {
		if problem != nil {
			return false
		}
		switch n := n.(type) {
		case *syntax.DefStmt:
			problem = checkFunction(n.Params, n.Body, tname)
		case *syntax.LambdaExpr:
			problem = checkFunction(n.Params, []syntax.Stmt{&syntax.ReturnStmt{Result: n.Body}}, tname)
		}
		return true
	})
	return problem
}

// scope is what a static look knows of one function's local variables.
type scope struct {
	tname string
	// assigned holds each local's assigned expressions; accept marks a name bound as the
	// first of a tuple unpacked from X.accept() (the expression is X).
	assigned map[string][]assignment
	// params are the function's parameters; unknown are locals bound otherwise than by
	// assignment: loop variables, unpacked tuples, augmented assignments, nested
	// functions. Neither has a known type.
	params, unknown map[string]bool
	// types are the locals whose every assignment has one known type.
	types map[string]string
}

type assignment struct {
	rhs    syntax.Expr
	accept bool
}

// checkFunction checks one function's body, not the functions nested in it, which are
// checked on their own.
func checkFunction(params []syntax.Expr, body []syntax.Stmt, tname string) *Error {
	s := &scope{tname: tname, assigned: map[string][]assignment{}, params: map[string]bool{}, unknown: map[string]bool{}, types: map[string]string{}}
	for _, p := range params {
		switch p := p.(type) {
		case *syntax.Ident:
			s.params[p.Name] = true
		case *syntax.BinaryExpr: // name = default
			if id, ok := p.X.(*syntax.Ident); ok {
				s.params[id.Name] = true
			}
		case *syntax.UnaryExpr: // *args, **kwargs
			if id, ok := p.X.(*syntax.Ident); ok {
				s.params[id.Name] = true
			}
		}
	}
	walkBody(body, func(n syntax.Node) {
		switch n := n.(type) {
		case *syntax.AssignStmt:
			s.bind(n)
		case *syntax.ForStmt:
			s.poison(n.Vars)
		case *syntax.ForClause:
			s.poison(n.Vars)
		case *syntax.DefStmt:
			s.unknown[n.Name.Name] = true
		}
	})
	// Types flow from one local to another (a = t.a.socket(...); b = a): a few rounds
	// reach every chain a lab writes.
	for range 4 {
		next := map[string]string{}
		for name, as := range s.assigned {
			if s.unknown[name] || s.params[name] {
				continue
			}
			typ := ""
			for i, a := range as {
				t := s.typeOf(a.rhs)
				if a.accept { // only a socket has accept()
					if t == "socket" || t == "" {
						t = "socket"
					} else {
						t = ""
					}
				}
				if i > 0 && t != typ || t == "" {
					typ = ""
					break
				}
				typ = t
			}
			if typ != "" {
				next[name] = typ
			}
		}
		s.types = next
	}
	var problem *Error
	known := valueAttrs()
	walkBody(body, func(n syntax.Node) {
		if problem != nil {
			return
		}
		switch n := n.(type) {
		case *syntax.DotExpr:
			typ := s.typeOf(n.X)
			attrs, ok := known[typ]
			if ok && !slices.Contains(attrs, n.Name.Name) {
				problem = &Error{Pos: n.Name.NamePos.String(), Msg: fmt.Sprintf("%s is %s %s, which has no attribute %q %s",
					exprText(n.X), article(typ), typ, n.Name.Name, suggest(n.Name.Name, attrs))}
			}
		case *syntax.CallExpr:
			dot, ok := n.Fn.(*syntax.DotExpr)
			if !ok || !slices.Contains(bytesMethods, dot.Name.Name) || len(n.Args) == 0 {
				return
			}
			if typ := s.typeOf(dot.X); typ != "" && typ != "socket" {
				return // reported as an attribute it lacks
			}
			if lit, ok := n.Args[0].(*syntax.Literal); ok && lit.Token == syntax.STRING {
				fix := "b" + lit.Raw
				if !isASCII(lit.Raw) {
					fix = "encode(" + lit.Raw + ")"
				}
				problem = &Error{Pos: lit.TokenPos.String(), Msg: fmt.Sprintf("%s: TypeError: a bytes-like object is required, not 'str' (did you mean %s?)", dot.Name.Name, fix)}
			}
		}
	})
	return problem
}

// walkBody calls fn on every node of body but those of the functions nested in it.
func walkBody(body []syntax.Stmt, fn func(syntax.Node)) {
	for _, st := range body {
		syntax.Walk(st, func(n syntax.Node) bool {
			switch n := n.(type) {
			case *syntax.DefStmt:
				fn(n) // its name is bound here; its body is its own
				return false
			case *syntax.LambdaExpr:
				return false
			case nil:
				return false
			}
			fn(n)
			return true
		})
	}
}

// bind records an assignment.
func (s *scope) bind(a *syntax.AssignStmt) {
	if a.Op != syntax.EQ {
		s.poison(a.LHS)
		return
	}
	switch lhs := unparen(a.LHS).(type) {
	case *syntax.Ident:
		if id, ok := unparen(a.RHS).(*syntax.Ident); ok && id.Name == "None" {
			return // a None says nothing of what the name holds once it is used
		}
		s.assigned[lhs.Name] = append(s.assigned[lhs.Name], assignment{rhs: a.RHS})
		return
	case *syntax.TupleExpr, *syntax.ListExpr:
		var elems []syntax.Expr
		if t, ok := lhs.(*syntax.TupleExpr); ok {
			elems = t.List
		} else {
			elems = lhs.(*syntax.ListExpr).List
		}
		call, ok := unparen(a.RHS).(*syntax.CallExpr)
		if dot, isDot := fnDot(call); ok && isDot && dot.Name.Name == "accept" && len(call.Args) == 0 && len(elems) == 2 {
			if id, ok := unparen(elems[0]).(*syntax.Ident); ok {
				s.assigned[id.Name] = append(s.assigned[id.Name], assignment{rhs: dot.X, accept: true})
				s.poison(elems[1])
				return
			}
		}
	}
	s.poison(a.LHS)
}

// poison marks every name bound by e as of no known type.
func (s *scope) poison(e syntax.Expr) {
	syntax.Walk(e, func(n syntax.Node) bool {
		if id, ok := n.(*syntax.Ident); ok {
			s.unknown[id.Name] = true
		}
		return true
	})
}

// typeOf returns the type name of what e is, when a static look can tell: "host",
// "socket", "process", "future" or "link"; else "".
func (s *scope) typeOf(e syntax.Expr) string {
	switch e := unparen(e).(type) {
	case *syntax.Ident:
		if s.unknown[e.Name] || s.params[e.Name] {
			return ""
		}
		return s.types[e.Name]
	case *syntax.DotExpr:
		if s.isT(e.X) && !reservedAttrs[e.Name.Name] {
			return "host"
		}
		if x := s.typeOf(e.X); (x == "socket" || x == "process") && e.Name.Name == "host" {
			return "host"
		}
	case *syntax.CallExpr:
		dot, ok := fnDot(e)
		if !ok {
			return ""
		}
		x := s.typeOf(dot.X)
		switch {
		case slices.Contains(hostSocketMakers, dot.Name.Name) && (x == "host" || x == "" && !s.isT(dot.X)):
			return "socket" // only a host has these
		case dot.Name.Name == "spawn" && (x == "host" || x == "" && !s.isT(dot.X)):
			return "process" // only a host has .spawn
		case dot.Name.Name == "go" && s.isT(dot.X):
			return "future"
		case dot.Name.Name == "link" && s.isT(dot.X):
			return "link"
		}
	case *syntax.IndexExpr:
		if call, ok := unparen(e.X).(*syntax.CallExpr); ok {
			if dot, ok := fnDot(call); ok && dot.Name.Name == "accept" {
				if lit, ok := e.Y.(*syntax.Literal); ok && lit.Value == int64(0) {
					if x := s.typeOf(dot.X); x == "socket" || x == "" {
						return "socket"
					}
				}
			}
		}
	}
	return ""
}

// isT reports whether e is the lab's t: named like main's parameter, and a parameter of
// this function or not bound in it.
func (s *scope) isT(e syntax.Expr) bool {
	id, ok := unparen(e).(*syntax.Ident)
	return ok && s.tname != "" && id.Name == s.tname && !s.unknown[id.Name] && len(s.assigned[id.Name]) == 0
}

func fnDot(call *syntax.CallExpr) (*syntax.DotExpr, bool) {
	if call == nil {
		return nil, false
	}
	dot, ok := call.Fn.(*syntax.DotExpr)
	return dot, ok
}

func unparen(e syntax.Expr) syntax.Expr {
	for {
		p, ok := e.(*syntax.ParenExpr)
		if !ok {
			return e
		}
		e = p.X
	}
}

// exprText is e as a lab's author wrote it, for a name or a chain of attributes; else
// "this".
func exprText(e syntax.Expr) string {
	switch e := unparen(e).(type) {
	case *syntax.Ident:
		return e.Name
	case *syntax.DotExpr:
		if x := exprText(e.X); x != "this" {
			return x + "." + e.Name.Name
		}
	case *syntax.CallExpr:
		if x := exprText(e.Fn); x != "this" {
			return x + "(...)"
		}
	}
	return "this"
}

// suggest returns "(did you mean NAME?)" for the attribute nearest name, else the
// attributes there are.
func suggest(name string, attrs []string) string {
	best, bestD := "", len(name)/4+2
	for _, a := range attrs {
		if d := editDistance(name, a); d < bestD {
			best, bestD = a, d
		}
	}
	if best != "" {
		return "(did you mean " + best + "?)"
	}
	return "(it has: " + strings.Join(attrs, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func isASCII(s string) bool { return utf8.ValidString(s) && len(s) == utf8.RuneCountInString(s) }
