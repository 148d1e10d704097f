package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// PreviewMax is how many characters of a payload's repr Call and Outcome show before
// cutting it with "...".
const PreviewMax = 60

// Linux values of the constants Call and Outcome print by name.
const (
	solSocket  = 1
	ipprotoIP  = 0
	ipprotoTCP = 6
)

// msgFlags are the MSG_* flags Call names, in ascending bit order (Linux values).
var msgFlags = []struct {
	bit  int32
	name string
}{
	{0x1, "MSG_OOB"},
	{0x2, "MSG_PEEK"},
	{0x40, "MSG_DONTWAIT"},
	{0x100, "MSG_WAITALL"},
	{0x4000, "MSG_NOSIGNAL"},
	{0x8000, "MSG_MORE"},
}

// Call returns the event's operation as Python would write the call, such as
// "connect(('127.5.0.2', 8080))" or "recv(1024, MSG_PEEK)". Sent data is shown from the
// event's payload (where the agent moves it), cut after PreviewMax characters.
func Call(ev *socklabv1.Event) string { return call(ev, PreviewMax) }

// Outcome returns what the event's operation returned, as Python would print it: "None",
// "5", "b'HELLO'", "(s2, ('127.0.0.1', 43210))"; or, when it raised, the error as
// "ECONNREFUSED [Errno 111] Connection refused" or "timeout: timed out". connect_ex
// returns its errno as a value, so its outcome is that number even when the event carries
// the error. Received data is cut after PreviewMax characters.
func Outcome(ev *socklabv1.Event) string { return outcome(ev, PreviewMax) }

// Bytes returns b as Python's repr prints a bytes object: b'...' with \n, \r, \t, \\ and
// the quote escaped, other non-printable bytes as \xNN, and double quotes when b holds a
// single quote but no double quote. total is the data's true length when b is only its
// first part (0 means len(b)). When the content would be longer than max characters (max
// > 0), it is cut at a whole character or escape; a cut or partial preview ends with
// "..." and the true length, as in b'hello wor'... (1000 bytes).
func Bytes(b []byte, total uint64, max int) string {
	if total < uint64(len(b)) {
		total = uint64(len(b))
	}
	quote := byte('\'')
	if strings.IndexByte(string(b), '\'') >= 0 && strings.IndexByte(string(b), '"') < 0 {
		quote = '"'
	}
	var sb strings.Builder
	sb.WriteString("b")
	sb.WriteByte(quote)
	n, shown := 0, 0
	for _, c := range b {
		esc := byteEscape(c, quote)
		if max > 0 && n+len(esc) > max {
			break
		}
		sb.WriteString(esc)
		n += len(esc)
		shown++
	}
	sb.WriteByte(quote)
	switch {
	case total == 1 && shown == 0:
		sb.WriteString("... (1 byte)")
	case uint64(shown) < total:
		fmt.Fprintf(&sb, "... (%d bytes)", total)
	}
	return sb.String()
}

// byteEscape returns c as it appears inside a bytes repr quoted with quote.
func byteEscape(c, quote byte) string {
	switch {
	case c == '\\':
		return `\\`
	case c == quote:
		return `\` + string(quote)
	case c == '\t':
		return `\t`
	case c == '\n':
		return `\n`
	case c == '\r':
		return `\r`
	case c < 0x20 || c >= 0x7f:
		return fmt.Sprintf(`\x%02x`, c)
	}
	return string(c)
}

// pyStr returns s as Python's repr prints a str.
func pyStr(s string) string {
	quote := '\''
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var sb strings.Builder
	sb.WriteRune(quote)
	for i, r := range s {
		switch {
		case r == utf8.RuneError && isInvalid(s[i:]):
			fmt.Fprintf(&sb, `\udc%02x`, s[i]) // as Python's surrogateescape would show it
		case r == '\\' || r == quote:
			sb.WriteRune('\\')
			sb.WriteRune(r)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case r < 0x80 || unicode.IsPrint(r):
			sb.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			fmt.Fprintf(&sb, `\U%08x`, r)
		}
	}
	sb.WriteRune(quote)
	return sb.String()
}

func isInvalid(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	return r == utf8.RuneError && size <= 1
}

// pyFloat returns f as Python's repr prints a float: "0.5", "2.0", "1e-05".
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.FormatFloat(f, 'e', -1, 64) // Go, like Python, writes "1e-05"
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// Address returns a as Python writes a socket address: ('127.0.0.1', 8080) for the inet
// families, the path's string for AF_UNIX, None when a is nil.
func Address(a *socklabv1.Address) string {
	if a == nil {
		return "None"
	}
	if a.GetPath() != "" {
		return pyStr(a.GetPath())
	}
	if strings.Contains(a.GetHost(), ":") { // AF_INET6: Python's 4-tuple
		return fmt.Sprintf("(%s, %d, 0, 0)", pyStr(a.GetHost()), a.GetPort())
	}
	return fmt.Sprintf("(%s, %d)", pyStr(a.GetHost()), a.GetPort())
}

// handle returns a socket handle as a variable name, "s3".
func handle(h uint32) string { return "s" + strconv.FormatUint(uint64(h), 10) }

func flagNames(flags int32) string {
	var parts []string
	for _, f := range msgFlags {
		if flags&f.bit != 0 {
			parts = append(parts, f.name)
			flags &^= f.bit
		}
	}
	if flags != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint32(flags)))
	}
	return strings.Join(parts, "|")
}

func levelName(level int32) string {
	switch level {
	case solSocket:
		return "SOL_SOCKET"
	case ipprotoTCP:
		return "IPPROTO_TCP"
	case ipprotoIP:
		return "IPPROTO_IP"
	}
	return strconv.Itoa(int(level))
}

func optionName(ev *socklabv1.Event, name int32) string {
	if s := ev.GetResult().GetOptionName(); s != "" {
		return s
	}
	return strconv.Itoa(int(name))
}

func familyName(f socklabv1.Family) string {
	switch f {
	case socklabv1.Family_FAMILY_INET:
		return "AF_INET"
	case socklabv1.Family_FAMILY_INET6:
		return "AF_INET6"
	case socklabv1.Family_FAMILY_UNIX:
		return "AF_UNIX"
	}
	return strconv.Itoa(int(f))
}

func typeName(t socklabv1.SocketType) string {
	switch t {
	case socklabv1.SocketType_SOCKET_TYPE_STREAM:
		return "SOCK_STREAM"
	case socklabv1.SocketType_SOCKET_TYPE_DGRAM:
		return "SOCK_DGRAM"
	}
	return strconv.Itoa(int(t))
}

func howName(h socklabv1.ShutdownHow) string {
	switch h {
	case socklabv1.ShutdownHow_SHUTDOWN_HOW_RD:
		return "SHUT_RD"
	case socklabv1.ShutdownHow_SHUTDOWN_HOW_WR:
		return "SHUT_WR"
	case socklabv1.ShutdownHow_SHUTDOWN_HOW_RDWR:
		return "SHUT_RDWR"
	}
	return strconv.Itoa(int(h))
}

// args joins call arguments, leaving out empty ones (flags of 0).
func args(name string, a ...string) string {
	var kept []string
	for _, s := range a {
		if s != "" {
			kept = append(kept, s)
		}
	}
	return name + "(" + strings.Join(kept, ", ") + ")"
}

// sent returns the repr of the data a sending call sent: the event's payload (where the
// agent moves it), else the operation's own data. A call that failed before sending a
// byte shows "..." (Python's Ellipsis): the event does not say what it tried to send.
func sent(ev *socklabv1.Event, data []byte, max int) string {
	switch {
	case len(ev.GetPayload()) > 0 || ev.GetPayloadLength() > 0:
		return Bytes(ev.GetPayload(), ev.GetPayloadLength(), max)
	case len(data) > 0:
		return Bytes(data, 0, max)
	case ev.GetError() != nil:
		return "..."
	}
	return "b''"
}

// call is Call with payload previews cut at max characters.
func call(ev *socklabv1.Event, max int) string {
	op := ev.GetOperation()
	switch o := op.GetOp().(type) {
	case *socklabv1.Operation_Socket:
		return args("socket", familyName(o.Socket.GetFamily()), typeName(o.Socket.GetType()))
	case *socklabv1.Operation_Setsockopt:
		s := o.Setsockopt
		var v string
		switch val := s.GetValue().(type) {
		case *socklabv1.SetSockOptOp_BytesValue:
			v = Bytes(val.BytesValue, 0, max)
		default:
			v = strconv.FormatInt(s.GetIntValue(), 10)
		}
		return args("setsockopt", levelName(s.GetLevel()), optionName(ev, s.GetName()), v)
	case *socklabv1.Operation_Getsockopt:
		g := o.Getsockopt
		var buflen string
		if g.GetBuflen() > 0 {
			buflen = strconv.FormatUint(uint64(g.GetBuflen()), 10)
		}
		return args("getsockopt", levelName(g.GetLevel()), optionName(ev, g.GetName()), buflen)
	case *socklabv1.Operation_Bind:
		return args("bind", Address(o.Bind.GetAddress()))
	case *socklabv1.Operation_Listen:
		if o.Listen.Backlog == nil {
			return "listen()"
		}
		return args("listen", strconv.Itoa(int(o.Listen.GetBacklog())))
	case *socklabv1.Operation_Accept:
		return "accept()"
	case *socklabv1.Operation_Connect:
		return args("connect", Address(o.Connect.GetAddress()))
	case *socklabv1.Operation_ConnectEx:
		return args("connect_ex", Address(o.ConnectEx.GetAddress()))
	case *socklabv1.Operation_Send:
		return args("send", sent(ev, o.Send.GetData(), max), flagNames(o.Send.GetFlags()))
	case *socklabv1.Operation_Sendall:
		return args("sendall", sent(ev, o.Sendall.GetData(), max), flagNames(o.Sendall.GetFlags()))
	case *socklabv1.Operation_Sendto:
		s := o.Sendto
		return args("sendto", sent(ev, s.GetData(), max), flagNames(s.GetFlags()), Address(s.GetAddress()))
	case *socklabv1.Operation_Recv:
		return args("recv", strconv.FormatUint(uint64(o.Recv.GetBufsize()), 10), flagNames(o.Recv.GetFlags()))
	case *socklabv1.Operation_Recvfrom:
		return args("recvfrom", strconv.FormatUint(uint64(o.Recvfrom.GetBufsize()), 10), flagNames(o.Recvfrom.GetFlags()))
	case *socklabv1.Operation_Shutdown:
		return args("shutdown", howName(o.Shutdown.GetHow()))
	case *socklabv1.Operation_Close:
		return "close()"
	case *socklabv1.Operation_Getsockname:
		return "getsockname()"
	case *socklabv1.Operation_Getpeername:
		return "getpeername()"
	case *socklabv1.Operation_Settimeout:
		if o.Settimeout.Seconds == nil {
			return "settimeout(None)"
		}
		return args("settimeout", pyFloat(o.Settimeout.GetSeconds()))
	case *socklabv1.Operation_Setblocking:
		if o.Setblocking.GetBlocking() {
			return "setblocking(True)"
		}
		return "setblocking(False)"
	case *socklabv1.Operation_Gettimeout:
		return "gettimeout()"
	case *socklabv1.Operation_Ss:
		var kw []string
		if p := o.Ss.GetPort(); p != 0 {
			kw = append(kw, fmt.Sprintf("port = %d", p))
		}
		if st := o.Ss.GetState(); st != "" {
			kw = append(kw, "state = "+pyStr(st))
		}
		if pr := o.Ss.GetProtocol(); pr != "" {
			kw = append(kw, "proto = "+pyStr(pr))
		}
		if h := o.Ss.GetHost(); h != "" {
			kw = append(kw, "host = "+pyStr(h))
		}
		return "ss(" + strings.Join(kw, ", ") + ")"
	case *socklabv1.Operation_Sysctl:
		return "sysctl(" + pyStr(o.Sysctl.GetName()) + ")"
	case *socklabv1.Operation_SendBulk:
		return fmt.Sprintf("send_bulk(%d)", o.SendBulk.GetCount())
	case *socklabv1.Operation_Drain:
		return fmt.Sprintf("drain(%d)", o.Drain.GetCount())
	case *socklabv1.Operation_ConnectMany:
		return fmt.Sprintf("connect_many(%s, %d)", Address(o.ConnectMany.GetAddress()), o.ConnectMany.GetCount())
	case *socklabv1.Operation_Serve:
		return "serve(" + pyStr(strings.ToLower(strings.TrimPrefix(o.Serve.GetBehaviour().String(), "BEHAVIOUR_"))) + ")"
	}
	if name := ev.GetOp(); name != "" {
		return name + "()"
	}
	return "?"
}

// Error returns a socket error as Python shows it: "ECONNREFUSED [Errno 111] Connection
// refused", "timeout: timed out", or "name: message" for an error with no errno.
func Error(e *socklabv1.SocketError) string {
	switch {
	case e == nil:
		return ""
	case e.GetErrno() != 0:
		return strings.TrimSpace(fmt.Sprintf("%s [Errno %d] %s", e.GetName(), e.GetErrno(), e.GetMessage()))
	case e.GetName() == "":
		return e.GetMessage()
	case e.GetMessage() == "":
		return e.GetName()
	}
	return e.GetName() + ": " + e.GetMessage()
}

// returnsErrno reports whether the event is a connect_ex that returned its errno as a
// value, which Python does instead of raising.
func returnsErrno(ev *socklabv1.Event) bool {
	_, ok := ev.GetOperation().GetOp().(*socklabv1.Operation_ConnectEx)
	return ok && (ev.GetError() == nil || ev.GetResult().GetValue() != 0)
}

// raised reports whether the event's operation raised its error (rather than returning it).
func raised(ev *socklabv1.Event) bool { return ev.GetError() != nil && !returnsErrno(ev) }

// outcome is Outcome with payload previews cut at max characters.
func outcome(ev *socklabv1.Event, max int) string {
	if raised(ev) {
		return Error(ev.GetError())
	}
	res := ev.GetResult()
	switch o := ev.GetOperation().GetOp().(type) {
	case *socklabv1.Operation_Socket:
		h := res.GetHandle()
		if h == 0 {
			h = ev.GetHandle()
		}
		return handle(h)
	case *socklabv1.Operation_Accept:
		return fmt.Sprintf("(%s, %s)", handle(res.GetHandle()), Address(res.GetAddress()))
	case *socklabv1.Operation_ConnectEx:
		return strconv.FormatInt(res.GetValue(), 10)
	case *socklabv1.Operation_Send, *socklabv1.Operation_Sendto:
		return strconv.FormatInt(res.GetValue(), 10)
	case *socklabv1.Operation_Recv:
		return Bytes(ev.GetPayload(), ev.GetPayloadLength(), max) + truncated(res)
	case *socklabv1.Operation_Recvfrom:
		// The agent sets the sender's address for datagrams; on a stream Python returns None.
		return fmt.Sprintf("(%s, %s)", Bytes(ev.GetPayload(), ev.GetPayloadLength(), max), Address(res.GetAddress())) + truncated(res)
	case *socklabv1.Operation_Getsockname, *socklabv1.Operation_Getpeername:
		return Address(res.GetAddress())
	case *socklabv1.Operation_Gettimeout:
		if res.TimeoutSeconds == nil {
			return "None"
		}
		return pyFloat(res.GetTimeoutSeconds())
	case *socklabv1.Operation_Getsockopt:
		if o.Getsockopt.GetBuflen() > 0 {
			return Bytes(res.GetBytesValue(), 0, max)
		}
		return strconv.FormatInt(res.GetValue(), 10)
	case *socklabv1.Operation_Ss:
		return ssRows(res.GetSockets())
	case *socklabv1.Operation_SendBulk:
		return strconv.FormatInt(res.GetValue(), 10)
	case *socklabv1.Operation_Drain:
		return fmt.Sprintf("(%d, 0x%08x)", res.GetValue(), res.GetChecksum())
	case *socklabv1.Operation_ConnectMany:
		hs := res.GetHandles()
		switch len(hs) {
		case 0:
			return "[]"
		case 1:
			return "[" + handle(hs[0]) + "]"
		}
		return fmt.Sprintf("[%s ... %s] (%d sockets)", handle(hs[0]), handle(hs[len(hs)-1]), len(hs))
	case *socklabv1.Operation_Sysctl:
		if !res.GetFound() {
			return "None (no such knob on this kernel)"
		}
		return pyStr(res.GetText())
	}
	return "None"
}

// ssRows summarises the kernel's socket rows on one line: state local -> peer, ...
func ssRows(rows []*socklabv1.KernelSocket) string {
	if len(rows) == 0 {
		return "[] (no such socket)"
	}
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = r.GetProtocol() + " " + r.GetState() + " " + hostPort(r.GetLocal())
		if r.GetPeer() != nil {
			parts[i] += " -> " + hostPort(r.GetPeer())
		}
	}
	return fmt.Sprintf("%d row(s): %s", len(rows), strings.Join(parts, ", "))
}

func hostPort(a *socklabv1.Address) string {
	if strings.Contains(a.GetHost(), ":") {
		return fmt.Sprintf("[%s]:%d", a.GetHost(), a.GetPort())
	}
	return fmt.Sprintf("%s:%d", a.GetHost(), a.GetPort())
}

// truncated notes a datagram that did not fit the buffer: the rest of it is lost.
func truncated(res *socklabv1.Result) string {
	switch {
	case !res.GetTruncated():
		return ""
	case res.GetDatagramLength() > 0:
		return fmt.Sprintf(" [truncated: %d-byte datagram]", res.GetDatagramLength())
	}
	return " [truncated]"
}
