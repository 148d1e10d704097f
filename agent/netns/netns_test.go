package netns_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/netns"
)

// nsInode returns the inode of the calling thread's network namespace.
func nsInode(t *testing.T) uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Error(err)
	}
	return st.Ino
}

// TestDoComesBack: many goroutines entering a namespace at once, while others open it,
// run each call inside it and leave every thread in the process's own namespace after,
// whichever thread (the main one included) was inside at the moment another opened it.
func TestDoComesBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("entering another network namespace needs root (CI runs as root)")
	}
	child := exec.Command("/bin/sleep", "60")
	child.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	path := fmt.Sprintf("/proc/%d/ns/net", child.Process.Pid)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	inside := st.Ino
	runtime.LockOSThread()
	home := nsInode(t)
	runtime.UnlockOSThread()
	if home == inside {
		t.Fatal("the child's namespace is this process's")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				ns, err := netns.Open(path)
				if err != nil {
					t.Error(err)
					return
				}
				if err := ns.Do(func() error {
					if got := nsInode(t); got != inside {
						t.Errorf("inside Do: namespace %d, want %d", got, inside)
					}
					return nil
				}); err != nil {
					t.Error(err)
				}
				ns.Close()
				runtime.LockOSThread()
				if got := nsInode(t); got != home {
					t.Errorf("after Do: namespace %d, want this process's %d", got, home)
				}
				runtime.UnlockOSThread()
			}
		}()
	}
	wg.Wait()
}
