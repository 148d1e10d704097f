package sock

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
)

// Events is what select asks of a socket and what it finds: readable, writable, an
// exceptional condition (out-of-band data waiting).
type Events uint8

// The events of Select.
const (
	Readable Events = 1 << iota
	Writable
	Exceptional
)

// What poll(2) reports for each of Linux's select(2) sets (fs/select.c): a socket that
// has hung up or has an error is readable, one with an error is writable too. (The sets
// also hold POLLRDNORM and POLLWRNORM, which a socket reports only with POLLIN and
// POLLOUT.)
const (
	pollInSet  = unix.POLLIN | unix.POLLHUP | unix.POLLERR
	pollOutSet = unix.POLLOUT | unix.POLLERR
	pollExSet  = unix.POLLPRI
)

// Select waits until one of socks is ready for what the matching events asks of it, as
// Python's select.select and the kernel's select(2) see it, and returns what each is ready
// for (0: nothing), in socks' order. timeout < 0 waits without limit; 0 looks and returns
// at once; when it expires every result is 0. A closed socket fails it with EBADF; ctx's
// end fails it with ctx's error.
//
// The wait is poll(2) on duplicates of the sockets' descriptors, so that it neither holds
// the sockets (a close elsewhere goes on) nor disturbs Go's poller; it blocks a thread
// while it waits. The caller bounds how many sockets it passes: each costs a descriptor.
func Select(ctx context.Context, socks []*Socket, events []Events, timeout time.Duration) ([]Events, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fds := make([]unix.PollFd, 0, len(socks)+1)
	defer func() {
		for _, p := range fds {
			unix.Close(int(p.Fd))
		}
	}()
	for i, s := range socks {
		var dup int
		err := s.control(func(fd int) error {
			var err error
			dup, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
			return err
		})
		if err != nil {
			return nil, err
		}
		fds = append(fds, unix.PollFd{Fd: int32(dup), Events: pollEvents(events[i])})
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, err
	}
	fds = append(fds, unix.PollFd{Fd: int32(wake), Events: unix.POLLIN})
	woken := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(woken)
		one := [8]byte{1}
		_, _ = unix.Write(wake, one[:])
	})
	defer func() {
		if !stop() {
			<-woken // the wake-up is writing: let it finish before wake is closed
		}
	}()
	deadline := time.Now().Add(timeout)
	for {
		var ts *unix.Timespec
		if timeout >= 0 {
			t := unix.NsecToTimespec(max(time.Until(deadline), 0).Nanoseconds())
			ts = &t
		}
		_, err := unix.Ppoll(fds, ts, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	if fds[len(fds)-1].Revents != 0 {
		return nil, ctx.Err()
	}
	ready := make([]Events, len(socks))
	for i, p := range fds[:len(socks)] {
		if events[i]&Readable != 0 && p.Revents&pollInSet != 0 {
			ready[i] |= Readable
		}
		if events[i]&Writable != 0 && p.Revents&pollOutSet != 0 {
			ready[i] |= Writable
		}
		if events[i]&Exceptional != 0 && p.Revents&pollExSet != 0 {
			ready[i] |= Exceptional
		}
	}
	return ready, nil
}

// pollEvents returns the poll(2) events that answer what e asks (POLLHUP and POLLERR are
// reported whatever is asked).
func pollEvents(e Events) int16 {
	var ev int16
	if e&Readable != 0 {
		ev |= unix.POLLIN
	}
	if e&Writable != 0 {
		ev |= unix.POLLOUT
	}
	if e&Exceptional != 0 {
		ev |= unix.POLLPRI
	}
	return ev
}
