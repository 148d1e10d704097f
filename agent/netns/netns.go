// Package netns is the network namespace an agent lives in: where its sockets are made,
// its kernel tables read and its programs started, when that is not the namespace of
// the process that runs it (the netns topology runs one agent per lab host in one
// process, each in its host's namespace).
//
// A socket belongs to the namespace it was made in for the rest of its life, and a
// process to the namespace it was forked in; so only making them needs the namespace,
// which Do enters on one locked thread for the time of a call.
package netns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespace is a network namespace. The nil *Namespace is the process's own: its Do
// just calls.
type Namespace struct {
	path   string
	target int // an fd of the namespace
}

// home is an fd of the process's own network namespace, where Do brings a thread back.
// It is opened as the package initialises, on the main thread, before any thread can be
// in another namespace: read later, /proc/self/ns/net is the main thread's, which may be
// inside a namespace for a call of Do at that moment. -1 when it cannot be opened.
var home = func() int {
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}()

// Open opens the network namespace at path: a bind mount such as /run/netns/NAME, or
// /proc/PID/ns/net.
func Open(path string) (*Namespace, error) {
	if home < 0 {
		return nil, fmt.Errorf("network namespace %s: this process's own namespace could not be opened to come back to", path)
	}
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", path, err)
	}
	return &Namespace{path: path, target: target}, nil
}

// Path returns where the namespace was opened from; "" for the process's own.
func (n *Namespace) Path() string {
	if n == nil {
		return ""
	}
	return n.path
}

// Do calls fn on a thread inside the namespace. What fn makes there (sockets, netlink
// sockets, forked processes) stays in the namespace; the thread comes back to the
// process's namespace after, or, if it cannot, ends with its goroutine rather than
// serve another in the wrong namespace.
func (n *Namespace) Do(fn func() error) error {
	if n == nil {
		return fn()
	}
	runtime.LockOSThread()
	if err := unix.Setns(n.target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", n.path, err)
	}
	err := fn()
	if rerr := unix.Setns(home, unix.CLONE_NEWNET); rerr != nil {
		// Locked and never unlocked: the runtime ends this thread with the goroutine.
		return fmt.Errorf("leave network namespace %s: %w", n.path, rerr)
	}
	runtime.UnlockOSThread()
	return err
}

// Close closes the namespace's fds; the namespace itself lives on while anything holds
// it (a bind mount, a process, a socket).
func (n *Namespace) Close() error {
	if n == nil {
		return nil
	}
	return unix.Close(n.target)
}
