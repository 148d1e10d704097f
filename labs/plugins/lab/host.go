package lab

import (
	"fmt"
	"time"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Family is a socket's address family, as Python's socket module numbers it.
type Family int

// Type is a socket's type, as Python's socket module numbers it.
type Type int

// The families and types a socket may have.
const (
	AF_UNIX  Family = 1  //nolint:revive // Python's name, as a Starlark lab writes it
	AF_INET  Family = 2  //nolint:revive
	AF_INET6 Family = 10 //nolint:revive

	SOCK_STREAM Type = 1 //nolint:revive
	SOCK_DGRAM  Type = 2 //nolint:revive
)

// Host is one of the run's lab hosts.
type Host struct {
	t *T
	// Role is the host's role.
	Role string
	// IP is the host's address.
	IP string
}

// Addr is a socket address: a host and a port.
type Addr struct {
	// Host is the address's IP.
	Host string
	// Port is its port.
	Port int
}

// String shows the address as Python's tuple: ('127.0.0.1', 8080).
func (a Addr) String() string { return fmt.Sprintf("(%s, %d)", Repr(a.Host), a.Port) }

// Socket makes a socket on the host: Python's socket.socket(family, typ).
func (h *Host) Socket(family Family, typ Type) *Socket {
	fam := map[Family]socklabv1.Family{AF_INET: socklabv1.Family_FAMILY_INET, AF_INET6: socklabv1.Family_FAMILY_INET6, AF_UNIX: socklabv1.Family_FAMILY_UNIX}[family]
	st := map[Type]socklabv1.SocketType{SOCK_STREAM: socklabv1.SocketType_SOCKET_TYPE_STREAM, SOCK_DGRAM: socklabv1.SocketType_SOCKET_TYPE_DGRAM}[typ]
	if fam == socklabv1.Family_FAMILY_UNSPECIFIED || st == socklabv1.SocketType_SOCKET_TYPE_UNSPECIFIED {
		h.t.mistake("socket: family %d, type %d: use AF_INET, AF_INET6 or AF_UNIX and SOCK_STREAM or SOCK_DGRAM", family, typ)
	}
	op := &socklabv1.Operation{Op: &socklabv1.Operation_Socket{Socket: &socklabv1.SocketOp{Family: fam, Type: st}}}
	resp := h.do(0, op, "socket")
	return &Socket{host: h, Handle: resp.GetEvent().GetResult().GetHandle()}
}

// do performs op on handle, raising a socket error.
func (h *Host) do(handle uint32, op *socklabv1.Operation, name string) *socklabv1.PerformResponse {
	resp, err := h.t.perform(h.Role, handle, op, 0, h.where(name, handle))
	if err != nil {
		raise(err)
	}
	return resp
}

// where names a call and its handle in errors: "recv on client/s2".
func (h *Host) where(name string, handle uint32) string {
	if handle == 0 {
		return name + " on " + h.Role
	}
	return fmt.Sprintf("%s on %s/s%d", name, h.Role, handle)
}

// Socket is a socket on a lab host, with Python's methods. A failing call raises its
// *SocketError (see T.Try).
type Socket struct {
	host *Host
	// Handle is the socket's handle on its host's agent.
	Handle uint32
}

func (s *Socket) do(op *socklabv1.Operation, name string) *socklabv1.PerformResponse {
	return s.host.do(s.Handle, op, name)
}

func address(host string, port int) *socklabv1.Address {
	return &socklabv1.Address{Host: host, Port: uint32(port)}
}

// Bind binds the socket to (host, port).
func (s *Socket) Bind(host string, port int) {
	s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Bind{Bind: &socklabv1.BindOp{Address: address(host, port)}}}, "bind")
}

// Listen makes the socket listen with backlog.
func (s *Socket) Listen(backlog int) {
	b := int32(backlog)
	s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Listen{Listen: &socklabv1.ListenOp{Backlog: &b}}}, "listen")
}

// Accept accepts a connection: the new socket and the peer's address.
func (s *Socket) Accept() (*Socket, Addr) {
	resp := s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Accept{Accept: &socklabv1.AcceptOp{}}}, "accept")
	res := resp.GetEvent().GetResult()
	return &Socket{host: s.host, Handle: res.GetHandle()}, Addr{Host: res.GetAddress().GetHost(), Port: int(res.GetAddress().GetPort())}
}

// Connect connects the socket to (host, port).
func (s *Socket) Connect(host string, port int) {
	s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Connect{Connect: &socklabv1.ConnectOp{Address: address(host, port)}}}, "connect")
}

// Send sends data and returns how many bytes were queued.
func (s *Socket) Send(data []byte) int {
	resp := s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Send{Send: &socklabv1.SendOp{Data: data}}}, "send")
	return int(resp.GetEvent().GetResult().GetValue())
}

// SendAll sends all of data.
func (s *Socket) SendAll(data []byte) {
	s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Sendall{Sendall: &socklabv1.SendOp{Data: data}}}, "sendall")
}

// Recv receives at most n bytes; b"" (an empty slice) once the peer has closed.
func (s *Socket) Recv(n int) []byte {
	resp := s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Recv{Recv: &socklabv1.RecvOp{Bufsize: uint32(n)}}}, "recv")
	return append([]byte{}, resp.GetData()...)
}

// RecvAll receives until the peer closes (at most max bytes), n bytes a call.
func (s *Socket) RecvAll(n, max int) []byte {
	var out []byte
	for len(out) < max {
		b := s.Recv(min(n, max-len(out)))
		if len(b) == 0 {
			break
		}
		out = append(out, b...)
	}
	return out
}

// Shutdown shuts down one or both directions: "rd", "wr" or "rdwr".
func (s *Socket) Shutdown(how string) {
	h := map[string]socklabv1.ShutdownHow{"rd": socklabv1.ShutdownHow_SHUTDOWN_HOW_RD, "wr": socklabv1.ShutdownHow_SHUTDOWN_HOW_WR, "rdwr": socklabv1.ShutdownHow_SHUTDOWN_HOW_RDWR}[how]
	if h == socklabv1.ShutdownHow_SHUTDOWN_HOW_UNSPECIFIED {
		s.host.t.mistake("shutdown: how %q: use rd, wr or rdwr", how)
	}
	s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Shutdown{Shutdown: &socklabv1.ShutdownOp{How: h}}}, "shutdown")
}

// SetTimeout gives the socket's blocking calls a timeout (Python's settimeout): a call
// that waits longer raises a "timeout" *SocketError.
func (s *Socket) SetTimeout(d time.Duration) {
	sec := d.Seconds()
	s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Settimeout{Settimeout: &socklabv1.SetTimeoutOp{Seconds: &sec}}}, "settimeout")
}

// Close closes the socket.
func (s *Socket) Close() {
	s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Close{Close: &socklabv1.CloseOp{}}}, "close")
}

// SpawnOptions are what Host.Spawn gives a program besides its argv.
type SpawnOptions struct {
	// Files are put in the program's directory, by name (see T.Files).
	Files map[string][]byte
	// Env is the program's environment, beside what the agent gives every program
	// (SOCKLAB_HOST_IP, PATH).
	Env map[string]string
	// Stdin keeps the program's standard input open for Process.Write.
	Stdin bool
	// Cwd is the program's working directory, relative to its session's directory.
	Cwd string
}

// Spawn starts a program on the host, as a contained job of the run: Python's
// subprocess.Popen(argv).
func (h *Host) Spawn(argv []string, opts SpawnOptions) *Process {
	if len(argv) == 0 {
		h.t.mistake(`spawn: argv is empty: give the program and its arguments, []string{"python3", "server.py"}`)
	}
	op := &socklabv1.SpawnOp{Argv: argv, Files: opts.Files, Env: opts.Env, Stdin: opts.Stdin, Cwd: opts.Cwd}
	resp := h.do(0, &socklabv1.Operation{Op: &socklabv1.Operation_Spawn{Spawn: op}}, "spawn")
	handle := resp.GetEvent().GetResult().GetHandle()
	if handle == 0 {
		handle = resp.GetEvent().GetHandle()
	}
	return &Process{host: h, Handle: handle, Program: argv[0]}
}

// Process is a program running on a lab host.
type Process struct {
	host *Host
	// Handle is the process's handle on its host's agent.
	Handle uint32
	// Program is its argv[0].
	Program string
}

func (p *Process) do(op *socklabv1.Operation, name string, wd time.Duration) *socklabv1.PerformResponse {
	resp, err := p.host.t.perform(p.host.Role, p.Handle, op, wd, fmt.Sprintf("%s on %s/p%d", name, p.host.Role, p.Handle))
	if err != nil {
		raise(err)
	}
	return resp
}

// Wait waits for the program to end (within the lab's watchdog) and returns its
// returncode: its exit status, or minus the signal that ended it.
func (p *Process) Wait() int {
	return p.WaitFor(0)
}

// WaitFor is Wait within d instead of the lab's watchdog; a program still running then
// raises a *WatchdogError (see T.Try).
func (p *Process) WaitFor(d time.Duration) int {
	resp := p.do(&socklabv1.Operation{Op: &socklabv1.Operation_Wait{Wait: &socklabv1.WaitOp{}}}, "wait", d)
	e := resp.GetEvent().GetResult().GetExit()
	if n, ok := signalNumbers[e.GetSignal()]; ok {
		return -n
	}
	return int(e.GetCode())
}

// signalNumbers are the Linux numbers of the signals that end programs most often.
var signalNumbers = map[string]int{"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGABRT": 6, "SIGKILL": 9,
	"SIGSEGV": 11, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGXCPU": 24}

// WaitListening waits until the program listens on TCP port (within d; 0 is the lab's
// watchdog).
func (p *Process) WaitListening(port int, d time.Duration) {
	p.do(&socklabv1.Operation{Op: &socklabv1.Operation_WaitListening{WaitListening: &socklabv1.WaitListeningOp{Port: uint32(port), Protocol: "tcp"}}}, "wait_listening", d)
}

// WaitOutput waits until the program's standard output holds literal.
func (p *Process) WaitOutput(literal []byte) {
	p.do(&socklabv1.Operation{Op: &socklabv1.Operation_WaitOutput{WaitOutput: &socklabv1.WaitOutputOp{Literal: literal}}}, "wait_output", 0)
}

// Stdout returns what the program wrote to its standard output so far.
func (p *Process) Stdout() []byte {
	return p.do(&socklabv1.Operation{Op: &socklabv1.Operation_Stdout{Stdout: &socklabv1.OutputOp{}}}, "stdout", 0).GetEvent().GetResult().GetBytesValue()
}

// Stderr returns what the program wrote to its standard error so far.
func (p *Process) Stderr() []byte {
	return p.do(&socklabv1.Operation{Op: &socklabv1.Operation_Stderr{Stderr: &socklabv1.OutputOp{}}}, "stderr", 0).GetEvent().GetResult().GetBytesValue()
}

// Alive reports whether the program still runs.
func (p *Process) Alive() bool {
	return p.do(&socklabv1.Operation{Op: &socklabv1.Operation_Alive{Alive: &socklabv1.AliveOp{}}}, "alive", 0).GetEvent().GetResult().GetValue() == 1
}

// Write writes to the program's standard input (SpawnOptions.Stdin).
func (p *Process) Write(data []byte) {
	p.do(&socklabv1.Operation{Op: &socklabv1.Operation_Write{Write: &socklabv1.WriteOp{Data: data}}}, "write", 0)
}

// Kill ends the program and everything it started.
func (p *Process) Kill() {
	p.do(&socklabv1.Operation{Op: &socklabv1.Operation_Kill{Kill: &socklabv1.KillOp{}}}, "kill", 0)
}

// Perform performs any operation the agents know (socklab.v1.Operation) on handle of the
// host (0: a new socket or process, or the host itself), for what this package has no
// method for. A socket error is returned, not raised; a watchdog, a refusal or a lost
// host stops the lab as any call's does.
func (h *Host) Perform(handle uint32, op *socklabv1.Operation) (*socklabv1.PerformResponse, error) {
	resp, err := h.t.perform(h.Role, handle, op, 0, h.where("perform", handle))
	if err != nil {
		return resp, err
	}
	return resp, nil
}

// SendTo sends a datagram to (host, port) and returns how many bytes were sent.
func (s *Socket) SendTo(data []byte, host string, port int) int {
	resp := s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Sendto{Sendto: &socklabv1.SendToOp{Data: data, Address: address(host, port)}}}, "sendto")
	return int(resp.GetEvent().GetResult().GetValue())
}

// RecvFrom receives a datagram of at most n bytes and the address it came from.
func (s *Socket) RecvFrom(n int) ([]byte, Addr) {
	resp := s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Recvfrom{Recvfrom: &socklabv1.RecvOp{Bufsize: uint32(n)}}}, "recvfrom")
	a := resp.GetEvent().GetResult().GetAddress()
	return append([]byte{}, resp.GetData()...), Addr{Host: a.GetHost(), Port: int(a.GetPort())}
}

// GetSockName returns the socket's own address.
func (s *Socket) GetSockName() Addr {
	a := s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Getsockname{Getsockname: &socklabv1.GetSockNameOp{}}}, "getsockname").GetEvent().GetResult().GetAddress()
	return Addr{Host: a.GetHost(), Port: int(a.GetPort())}
}

// GetPeerName returns the address of the socket's peer.
func (s *Socket) GetPeerName() Addr {
	a := s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Getpeername{Getpeername: &socklabv1.GetPeerNameOp{}}}, "getpeername").GetEvent().GetResult().GetAddress()
	return Addr{Host: a.GetHost(), Port: int(a.GetPort())}
}

// SetSockOpt sets an integer socket option: level and name as Linux numbers them
// (SOL_SOCKET 1, SO_REUSEADDR 2).
func (s *Socket) SetSockOpt(level, name, value int) {
	s.do(&socklabv1.Operation{Op: &socklabv1.Operation_Setsockopt{Setsockopt: &socklabv1.SetSockOptOp{Level: int32(level), Name: int32(name),
		Value: &socklabv1.SetSockOptOp_IntValue{IntValue: int64(value)}}}}, "setsockopt")
}
