package agenttest

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// RefuseNamespacesEnv, set in a test binary's environment, asks its TestMain to call
// RefuseNamespaces before the tests run.
const RefuseNamespacesEnv = "SOCKLAB_TEST_REFUSE_NAMESPACES"

// namespaceFlags are clone's flags that make namespaces.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// RefuseNamespaces makes the kernel refuse this process, and all it starts, any new
// namespace, as Docker's default seccomp profile does for a container without
// CAP_SYS_ADMIN: clone with a namespace flag, unshare and setns fail with EPERM, clone3
// with ENOSYS. It cannot be undone; tests call it in a process of their own.
func RefuseNamespaces() error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("refuse namespaces: the filter is written for amd64, not %s", runtime.GOARCH)
	}
	const (
		archX86_64 = 0xc000003e // AUDIT_ARCH_X86_64
		offNr      = 0          // struct seccomp_data: nr, arch, instruction_pointer, args[6]
		offArch    = 4
		offArg0    = 16 // the low half, on a little-endian machine
		retAllow   = unix.SECCOMP_RET_ALLOW
		retEPERM   = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		retENOSYS  = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	)
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: archX86_64, SkipFalse: 9},      // to allow
		bpf.LoadAbsolute{Off: offNr, Size: 4},                               // 2
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_CLONE3, SkipTrue: 5},  // to ENOSYS
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_UNSHARE, SkipTrue: 5}, // to EPERM
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_SETNS, SkipTrue: 4},   // to EPERM
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_CLONE, SkipFalse: 4},  // to allow
		bpf.LoadAbsolute{Off: offArg0, Size: 4},                             // 7
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: namespaceFlags, SkipTrue: 1, SkipFalse: 2},
		bpf.RetConstant{Val: retENOSYS}, // 9
		bpf.RetConstant{Val: retEPERM},  // 10
		bpf.RetConstant{Val: retAllow},  // 11
	})
	if err != nil {
		return fmt.Errorf("refuse namespaces: %w", err)
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("refuse namespaces: no_new_privs: %w", err)
	}
	// Every thread of the process at once (TSYNC): the Go runtime forks from any of them.
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		return fmt.Errorf("refuse namespaces: install the filter: %w", errno)
	}
	return nil
}
