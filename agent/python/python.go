// Package python finds the real python3 interpreter of this host, the one a lab's Python
// programs run under.
//
// It never returns a version manager's shim (pyenv, asdf): a shim is a shell script that
// costs tens of milliseconds per start and may pick another interpreter per directory.
// The interpreter is resolved once per process; every later call returns the same answer.
package python

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// EnvVar names the environment variable that, when set, chooses the interpreter: a path,
// or a command name looked up on PATH.
const EnvVar = "SOCKLAB_PYTHON"

// candidates are the fixed paths tried, in order, after EnvVar and before PATH.
var candidates = []string{"/usr/bin/python3", "/usr/local/bin/python3"}

// resolveTimeout bounds the one run of a PATH python3 that asks it for its real path.
const resolveTimeout = 10 * time.Second

var (
	once     sync.Once
	found    string
	foundErr error
)

// Find returns the absolute path of a real python3 interpreter, resolved once: the
// interpreter named by $SOCKLAB_PYTHON when it is set (an error if it is not an
// executable; a bare name is looked up on PATH and resolved as below), else the first executable of /usr/bin/python3 and /usr/local/bin/python3,
// else python3 on PATH, resolved to its sys.executable by running it once so that a
// version manager's shim is never returned.
func Find() (string, error) {
	once.Do(func() { found, foundErr = find() })
	return found, foundErr
}

func find() (string, error) {
	if v := os.Getenv(EnvVar); v != "" {
		p, err := exec.LookPath(v)
		if err != nil {
			return "", fmt.Errorf("find python3: %s=%q: %w", EnvVar, v, err)
		}
		if !strings.ContainsRune(v, filepath.Separator) {
			return resolve(p) // a name found on PATH may be a shim
		}
		return absolute(p)
	}
	for _, p := range candidates {
		if isExecutable(p) {
			return p, nil
		}
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		return "", fmt.Errorf("find python3: not in %s nor on PATH (set %s): %w", strings.Join(candidates, ", "), EnvVar, err)
	}
	return resolve(p)
}

// resolve runs the interpreter at p (perhaps a shim) once and returns its sys.executable.
func resolve(p string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return "", fmt.Errorf("find python3: run %s: %w: %s", p, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("find python3: run %s: %w", p, err)
	}
	exe := strings.TrimSpace(string(out))
	if exe == "" {
		return "", fmt.Errorf("find python3: %s reports no sys.executable", p)
	}
	if !isExecutable(exe) {
		return "", fmt.Errorf("find python3: %s reports sys.executable %q, which is not an executable file", p, exe)
	}
	return absolute(exe)
}

func absolute(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("find python3: %w", err)
	}
	return a, nil
}

// isExecutable reports whether p is a regular file (after symlinks) someone may execute.
func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
