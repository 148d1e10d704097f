package lab

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"

	"github.com/socklab/socklab/agent/client"
)

// defaultBufferSize is io.DEFAULT_BUFFER_SIZE: the buffer of Python's makefile("rb"),
// and the size of each read of its read() to the end of the stream.
const defaultBufferSize = 8192

// fileValue is what socket.makefile("rb") returns: Python's io.BufferedReader over a
// SocketIO, kept in the lab. Its buffer is the lab's; each read of the socket is a
// recv_into of the socket on its agent, of the sizes CPython's BufferedReader asks for,
// so a lab's transcript shows the calls a Python program makes and what a lab reads of
// the socket itself afterwards is what Python's would be. With buffering = 0 it is the
// SocketIO itself: every read is one recv_into.
type fileValue struct {
	sock *socketValue
	mode string
	size int // the buffer's size; 0: unbuffered

	buf      []byte // size bytes once used; the buffered bytes are buf[pos:end]
	pos, end int    // end < 0: nothing buffered (CPython's read_end of -1)

	closed   bool
	timedOut bool // a read timed out: later ones raise, as SocketIO's do
	busy     bool // a read is waiting on the agent (another thread may run meanwhile)
}

var _ starlark.HasAttrs = (*fileValue)(nil)

func (f *fileValue) String() string {
	return fmt.Sprintf("<socket file %s/s%d mode=%s>", f.sock.host.role, f.sock.handle, reprStr(f.mode))
}
func (f *fileValue) Type() string          { return "file" }
func (f *fileValue) Freeze()               {}
func (f *fileValue) Truth() starlark.Bool  { return true }
func (f *fileValue) Hash() (uint32, error) { return uint32(f.sock.handle) ^ 0x85ebca6b, nil }

// fileMethods are the methods of a makefile reader, as Python's BufferedReader has them.
var fileMethods = map[string]func(*fileValue, *starlark.Thread, starlark.Tuple, []starlark.Tuple) (starlark.Value, error){
	"read":      (*fileValue).read,
	"readline":  (*fileValue).readline,
	"readlines": (*fileValue).readlines,
	"close":     (*fileValue).close,
	"fileno":    (*fileValue).fileno,
}

func (f *fileValue) AttrNames() []string {
	names := []string{"closed", "mode"}
	for k := range fileMethods {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func (f *fileValue) Attr(name string) (starlark.Value, error) {
	switch name {
	case "closed":
		return starlark.Bool(f.closed), nil
	case "mode":
		return starlark.String(f.mode), nil
	}
	m, ok := fileMethods[name]
	if !ok {
		return nil, nil
	}
	return starlark.NewBuiltin(name, func(th *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		return m(f, th, args, kwargs)
	}), nil
}

func (f *fileValue) selectHandle(h *hostValue) (uint32, error) {
	if f.closed {
		return 0, valueError("I/O operation on closed file")
	}
	return f.sock.selectHandle(h)
}

func init() {
	socketMethods["makefile"] = (*socketValue).makefile
}

// makefile(mode = "r", buffering = None, encoding = None, errors = None, newline = None)
// returns a reader of the socket's stream, as Python's makefile("rb"). Only binary
// reading is offered: "rb" (or "b"); text mode and writing are refused, saying what to
// use instead.
func (s *socketValue) makefile(_ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	mode := "r"
	var buffering, encoding, errs, newline starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None
	if err := unpackArgs("makefile", args, kwargs, "mode?", &mode, "buffering?", &buffering,
		"encoding?", &encoding, "errors?", &errs, "newline?", &newline); err != nil {
		return nil, err
	}
	if strings.Trim(mode, "rwb") != "" {
		return nil, fmt.Errorf("makefile: %w", valueError("invalid mode %s (only r, w, b allowed)", reprStr(mode)))
	}
	switch {
	case strings.Contains(mode, "w"):
		return nil, fmt.Errorf("makefile: mode %s writes, which labs do not offer: send with sendall", reprStr(mode))
	case !strings.Contains(mode, "b"):
		return nil, fmt.Errorf("makefile: mode %s is text, which labs do not offer: use makefile(\"rb\") and decode() its lines", reprStr(mode))
	}
	size := defaultBufferSize
	if buffering != starlark.None {
		n, ex := pyIndex(buffering)
		if ex != nil {
			return nil, fmt.Errorf("makefile: %w", ex)
		}
		size = int(min(n, maxByteArray+1))
		if size < 0 {
			size = defaultBufferSize
		}
		if size > maxByteArray {
			return nil, fmt.Errorf("makefile: buffering %d is over the lab's limit of %d", size, maxByteArray)
		}
	}
	if s.closed {
		return nil, &SocketError{Name: "EBADF", Errno: 9, Message: "Bad file descriptor", Call: "makefile on " + s.where()}
	}
	return &fileValue{sock: s, mode: "rb", size: size, end: -1}, nil // Python's SocketIO names its mode "rb" however asked
}

// errWouldBlock is a raw read of a non-blocking socket that found nothing: SocketIO's
// None, which a BufferedReader turns into a short result.
var errWouldBlock = errors.New("would block")

// rawRead is SocketIO.readinto of n bytes: one recv_into of the socket. It returns
// errWouldBlock where SocketIO returns None.
func (f *fileValue) rawRead(th *starlark.Thread, n int, wd starlark.Value) ([]byte, error) {
	if f.timedOut {
		return nil, &SocketError{Name: "error", Message: "cannot read from timed out object", Call: "read on " + f.sock.where()}
	}
	f.busy = true
	resp, err := f.sock.call(th, "recv_into", client.RecvInto(n, 0), wd)
	f.busy = false
	var se *SocketError
	switch {
	case errors.As(err, &se) && se.Name == "timeout":
		f.timedOut = true
		return nil, err
	case errors.As(err, &se) && (se.Name == "EAGAIN" || se.Name == "EWOULDBLOCK"):
		return nil, errWouldBlock
	case err != nil:
		return nil, err
	}
	return resp.GetData(), nil
}

// readahead is how many bytes the buffer holds.
func (f *fileValue) readahead() int {
	if f.end < 0 {
		return 0
	}
	return f.end - f.pos
}

// fill is CPython's _bufferedreader_fill_buffer: one raw read into the buffer after what
// it holds (all of it once reset), returning how many bytes came.
func (f *fileValue) fill(th *starlark.Thread, wd starlark.Value) (int, error) {
	if f.buf == nil {
		f.buf = make([]byte, f.size)
	}
	start := max(f.end, 0)
	data, err := f.rawRead(th, f.size-start, wd)
	if err != nil || len(data) == 0 {
		return 0, err
	}
	copy(f.buf[start:], data)
	f.end = start + len(data)
	return len(data), nil
}

// enter checks that the file may be read now; what names the call for Python's message.
func (f *fileValue) enter(what string) error {
	if f.closed {
		return fmt.Errorf("%s: %w", what, valueError("%s of closed file", what))
	}
	if f.busy {
		return fmt.Errorf("%s: another thread is reading this file: read a socket's file from one thread", what)
	}
	return nil
}

// sizeArg reads an optional size argument: an int, or None for -1.
func sizeArg(fn string, v starlark.Value) (int, error) {
	if v == starlark.None {
		return -1, nil
	}
	n, ex := pyIndex(v)
	if ex != nil {
		return 0, fmt.Errorf("%s: %w", fn, typeError("argument should be integer or None, not '%s'", pyType(v)))
	}
	return int(n), nil
}

// read(size = -1) returns size bytes, fewer only at the end of the stream (or when a
// non-blocking socket has no more now); without size, everything up to the end of the
// stream.
func (f *fileValue) read(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var sizeV, wd starlark.Value = starlark.None, starlark.None
	if err := unpackArgs("read", args, kwargs, "size?", &sizeV, "watchdog?", &wd); err != nil {
		return nil, err
	}
	n, err := sizeArg("read", sizeV)
	if err != nil {
		return nil, err
	}
	if n < -1 {
		return nil, fmt.Errorf("read: %w", valueError("read length must be non-negative or -1"))
	}
	if err := f.enter("read"); err != nil {
		return nil, err
	}
	var data []byte
	switch {
	case f.size == 0 && n >= 0:
		data, err = f.rawRead(th, n, wd)
	case n < 0:
		data, err = f.readAll(th, wd)
	default:
		data, err = f.readGeneric(th, n, wd)
	}
	if errors.Is(err, errWouldBlock) {
		if len(data) == 0 {
			return starlark.None, nil
		}
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return starlark.Bytes(data), nil
}

// readAll is CPython's _bufferedreader_read_all over SocketIO: what the buffer holds, then
// raw reads of DEFAULT_BUFFER_SIZE until one returns nothing.
func (f *fileValue) readAll(th *starlark.Thread, wd starlark.Value) ([]byte, error) {
	var out []byte
	if n := f.readahead(); n > 0 {
		out = append(out, f.buf[f.pos:f.end]...)
		f.pos = f.end
	}
	f.end = -1
	for {
		data, err := f.rawRead(th, defaultBufferSize, wd)
		if err != nil {
			return out, err
		}
		if len(data) == 0 {
			return out, nil
		}
		if len(out)+len(data) > maxByteArray {
			return nil, fmt.Errorf("read: over %d bytes before the end of the stream: read(size) in parts", maxByteArray)
		}
		out = append(out, data...)
	}
}

// readGeneric is CPython's _bufferedreader_read_generic: the buffered bytes, then whole
// buffers' worth read straight from the socket, then the rest through the buffer, whose
// excess stays there for the next read.
func (f *fileValue) readGeneric(th *starlark.Thread, n int, wd starlark.Value) ([]byte, error) {
	if n <= f.readahead() {
		out := bytes.Clone(f.buf[f.pos : f.pos+n])
		f.pos += n
		return out, nil
	}
	out := make([]byte, 0, min(n, maxByteArray))
	if ahead := f.readahead(); ahead > 0 {
		out = append(out, f.buf[f.pos:f.end]...)
		f.pos = f.end
	}
	f.end = -1
	remaining := n - len(out)
	for remaining > 0 {
		r := remaining / f.size * f.size // whole buffers only
		if r == 0 {
			break
		}
		data, err := f.rawRead(th, r, wd)
		if err != nil || len(data) == 0 {
			return out, err
		}
		out = append(out, data...)
		remaining -= len(data)
	}
	f.pos, f.end = 0, 0
	for remaining > 0 && f.end < f.size {
		got, err := f.fill(th, wd)
		if err != nil || got == 0 {
			return out, err
		}
		take := min(remaining, got)
		out = append(out, f.buf[f.pos:f.pos+take]...)
		f.pos += take
		remaining -= take
	}
	return out, nil
}

// readline(size = -1) returns the next line: the bytes up to and including b"\n", all
// that is left at the end of the stream (b"" once it is reached), or size bytes when the
// line is longer.
func (f *fileValue) readline(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var sizeV, wd starlark.Value = starlark.None, starlark.None
	if err := unpackArgs("readline", args, kwargs, "size?", &sizeV, "watchdog?", &wd); err != nil {
		return nil, err
	}
	limit, err := sizeArg("readline", sizeV)
	if err != nil {
		return nil, err
	}
	if err := f.enter("readline"); err != nil {
		return nil, err
	}
	line, err := f.readLine(th, limit, wd)
	if errors.Is(err, errWouldBlock) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return starlark.Bytes(line), nil
}

// readLine is CPython's _buffered_readline (IOBase.readline's byte-at-a-time reads when
// unbuffered).
func (f *fileValue) readLine(th *starlark.Thread, limit int, wd starlark.Value) ([]byte, error) {
	if f.size == 0 {
		var out []byte
		for limit < 0 || len(out) < limit {
			b, err := f.rawRead(th, 1, wd)
			if err != nil || len(b) == 0 {
				return out, err
			}
			out = append(out, b...)
			if b[0] == '\n' {
				break
			}
		}
		return out, nil
	}
	n := f.readahead()
	if limit >= 0 && n > limit {
		n = limit
	}
	if n > 0 {
		if i := bytes.IndexByte(f.buf[f.pos:f.pos+n], '\n'); i >= 0 {
			out := bytes.Clone(f.buf[f.pos : f.pos+i+1])
			f.pos += i + 1
			return out, nil
		}
	}
	if n == limit {
		out := bytes.Clone(f.buf[f.pos : f.pos+n])
		f.pos += n
		return out, nil
	}
	var out []byte
	if n > 0 {
		out = append(out, f.buf[f.pos:f.pos+n]...)
		f.pos += n
		if limit >= 0 {
			limit -= n
		}
	}
	for {
		f.end = -1
		got, err := f.fill(th, wd)
		if err != nil || got == 0 {
			return out, err
		}
		if limit >= 0 && got > limit {
			got = limit
		}
		if i := bytes.IndexByte(f.buf[:got], '\n'); i >= 0 {
			f.pos = i + 1
			return append(out, f.buf[:i+1]...), nil
		}
		out = append(out, f.buf[:got]...)
		if got == limit {
			f.pos = got
			return out, nil
		}
		f.pos = got
		if limit >= 0 {
			limit -= got
		}
		if len(out) > maxByteArray {
			return nil, fmt.Errorf("readline: a line of over %d bytes: give readline a size", maxByteArray)
		}
	}
}

// readlines(hint = -1) returns the lines up to the end of the stream, as a list; with a
// hint, it stops once the lines hold that many bytes.
func (f *fileValue) readlines(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var hintV, wd starlark.Value = starlark.None, starlark.None
	if err := unpackArgs("readlines", args, kwargs, "hint?", &hintV, "watchdog?", &wd); err != nil {
		return nil, err
	}
	hint, err := sizeArg("readlines", hintV)
	if err != nil {
		return nil, err
	}
	if err := f.enter("readlines"); err != nil {
		return nil, err
	}
	var lines []starlark.Value
	total := 0
	for {
		line, err := f.readLine(th, -1, wd)
		if errors.Is(err, errWouldBlock) {
			err = nil
		}
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			break
		}
		lines = append(lines, starlark.Bytes(line))
		total += len(line)
		if hint > 0 && total >= hint {
			break
		}
	}
	return starlark.NewList(lines), nil
}

// close closes the file, not the socket (as Python's, once the socket is closed too);
// reading it afterwards is a ValueError. Closing twice does nothing.
func (f *fileValue) close(_ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := unpackArgs("close", args, kwargs); err != nil {
		return nil, err
	}
	f.closed = true
	f.buf = nil
	return starlark.None, nil
}

// fileno() is the socket's handle, as Python's file gives the socket's descriptor.
func (f *fileValue) fileno(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if f.closed {
		return nil, fmt.Errorf("fileno: %w", valueError("I/O operation on closed file"))
	}
	return f.sock.fileno(th, args, kwargs)
}

// reprStr is Python's repr of a str.
func reprStr(s string) string { return repr(starlark.String(s)) }
