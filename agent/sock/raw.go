package sock

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// getsockoptRaw reads an option into buf and returns its length; x/sys/unix offers no
// raw-buffer getsockopt, and Python's getsockopt(level, name, buflen) needs one.
func getsockoptRaw(fd, level, name int, buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, unix.EINVAL
	}
	l := uint32(len(buf))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return 0, errno
	}
	return int(l), nil
}
