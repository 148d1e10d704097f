package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"

	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/crash"
)

// Limits bound a plugin's process: the limits of an agent's jobs, with room for a Go
// program's runtime and a run's length.
var Limits = process.Limits{
	CPU:       2 * time.Minute,
	Memory:    1 << 30,
	Processes: 128,
	OpenFiles: 512,
	Wall:      2 * time.Hour,
}

// box is where one plugin process runs: a private directory holding a copy of the
// plugin's executable (the bytes that were checked are the bytes that run), its working
// directory with go-plugin's sockets, and the group (as root) that the plugin's own uid
// shares with nothing but these files.
type box struct {
	dir    string         // the private directory
	exe    string         // the copy of the plugin's executable
	sum    []byte         // its SHA-256
	group  *process.Group // the plugin's gid, as root
	name   string         // the plugin as the user named it
	stderr *crash.Tail    // the end of the plugin's stderr
}

// newBox copies the executable at path into a new private directory, checking its
// SHA-256 against pin when pin is set (go-plugin's SecureConfig, on the copy: no one can
// swap the file between the check and the start).
func newBox(path string, pin []byte) (_ *box, err error) {
	g, err := process.NewGroup()
	if err != nil {
		return nil, fmt.Errorf("start the plugin: %w", err)
	}
	b := &box{group: g, name: path, stderr: crash.NewTail(8 << 10)}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.dir, err = os.MkdirTemp("", "socklab-plugin-"); err != nil {
		return nil, fmt.Errorf("start the plugin: %w", err)
	}
	gid := g.ID()
	if gid >= 0 {
		// The plugin's uid reaches its files through its group; no one else reaches them.
		if err := os.Chown(b.dir, -1, gid); err != nil {
			return nil, fmt.Errorf("start the plugin: %w", err)
		}
		if err := os.Chmod(b.dir, 0o750); err != nil {
			return nil, fmt.Errorf("start the plugin: %w", err)
		}
	}
	b.exe = filepath.Join(b.dir, filepath.Base(path)) // the plugin sees its own name
	if b.sum, err = copyExecutable(path, b.exe, gid); err != nil {
		return nil, err
	}
	if pin != nil {
		sc := &goplugin.SecureConfig{Checksum: pin, Hash: sha256.New()}
		if ok, err := sc.Check(b.exe); err != nil || !ok {
			return nil, &ChecksumError{Path: path, Got: hex.EncodeToString(b.sum), Want: hex.EncodeToString(pin)}
		}
	}
	return b, nil
}

// copyExecutable copies the executable src to dst, readable and executable by gid (-1:
// the owner only), and returns its SHA-256.
func copyExecutable(src, dst string, gid int) ([]byte, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("open the plugin: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o700)
	if err != nil {
		return nil, fmt.Errorf("copy the plugin: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("copy the plugin: %w", err)
	}
	if gid >= 0 {
		if err := os.Chown(dst, -1, gid); err != nil {
			return nil, fmt.Errorf("copy the plugin: %w", err)
		}
		if err := os.Chmod(dst, 0o750); err != nil {
			return nil, fmt.Errorf("copy the plugin: %w", err)
		}
	}
	return h.Sum(nil), nil
}

// socketConfig is go-plugin's configuration of the sockets it makes for this plugin: in
// the private directory, and reachable by the plugin's group.
func (b *box) socketConfig() *goplugin.UnixSocketConfig {
	c := &goplugin.UnixSocketConfig{TempDir: b.dir}
	if gid := b.group.ID(); gid >= 0 {
		c.Group = strconv.Itoa(gid)
	}
	return c
}

// close removes the private directory and gives the group back.
func (b *box) close() {
	if b == nil {
		return
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
	b.group.Release()
}

// jobRunner runs a plugin as a contained job (agent/process): its own pid and mount
// namespaces, its own uid and cgroups as root, rlimits, a clean environment, and an init
// that the kernel kills when the controller dies (a parent-death signal), taking the
// plugin with it. It is go-plugin's runner.Runner.
type jobRunner struct {
	box  *box
	env  []string
	dir  string // the plugin's working directory: go-plugin's socket directory
	job  *process.Job
	outR *io.PipeReader
	outW *io.PipeWriter
	errR *io.PipeReader
	errW *io.PipeWriter
}

var _ runner.Runner = (*jobRunner)(nil)

// newJobRunner is go-plugin's RunnerFunc for b: cmd carries the environment go-plugin
// gives a plugin (its cookie, its certificate, its socket directory), socketDir the
// directory it made for the plugin's sockets.
func (b *box) newJobRunner(cmd []string, socketDir string) *jobRunner {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + socketDir, "TMPDIR=" + socketDir}
	for _, k := range []string{"GORACE", "GOCOVERDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, kv := range cmd {
		if strings.HasPrefix(kv, "PLUGIN_") || strings.HasPrefix(kv, "SOCKLAB_") {
			env = append(env, kv)
		}
	}
	r := &jobRunner{box: b, env: env, dir: socketDir}
	r.outR, r.outW = io.Pipe()
	r.errR, r.errW = io.Pipe()
	return r
}

// Start starts the plugin's job.
func (r *jobRunner) Start(context.Context) error {
	spec := process.Spec{Path: r.box.exe, Argv: []string{r.box.exe}, Env: r.env, Dir: r.dir, Group: r.box.group, Limits: Limits,
		Output: func(s process.Stream, chunk []byte) {
			if s == process.Stdout {
				_, _ = r.outW.Write(chunk)
				return
			}
			_, _ = r.box.stderr.Write(chunk)
			_, _ = r.errW.Write(chunk)
		}}
	if r.box.group.ID() < 0 {
		spec.Group = nil
	}
	j, err := process.Start(spec)
	if err != nil {
		r.outW.Close()
		r.errW.Close()
		return fmt.Errorf("start the plugin: %w", err)
	}
	r.job = j
	go func() { // the streams end with the job
		<-j.Done()
		r.outW.Close()
		r.errW.Close()
	}()
	return nil
}

// Diagnose says nothing more than the plugin's stderr, which the errors quote.
func (r *jobRunner) Diagnose(context.Context) string { return "" }

// Stdout is the plugin's standard output: its handshake.
func (r *jobRunner) Stdout() io.ReadCloser { return r.outR }

// Stderr is the plugin's standard error.
func (r *jobRunner) Stderr() io.ReadCloser { return r.errR }

// Name is the plugin as the user named it.
func (r *jobRunner) Name() string { return r.box.name }

// Wait waits for the plugin's job to end.
func (r *jobRunner) Wait(ctx context.Context) error {
	exit, err := r.job.Wait(ctx)
	if err != nil {
		return err
	}
	if exit.Code != 0 || exit.Signal != "" {
		return fmt.Errorf("the plugin ended: %s", exit)
	}
	return nil
}

// Kill ends the plugin's job: the plugin and everything it started. It also closes the
// reading ends of its output: what go-plugin no longer reads (a line longer than its
// scanner takes) cannot hold the job's output, and so its end, forever.
func (r *jobRunner) Kill(context.Context) error {
	if r.job != nil {
		r.job.Kill()
	}
	r.outR.CloseWithError(errKilled)
	r.errR.CloseWithError(errKilled)
	return nil
}

// errKilled is what reads of a killed plugin's output meet.
var errKilled = errors.New("the plugin was killed")

// ID is the host pid of the job's init.
func (r *jobRunner) ID() string {
	if r.job == nil {
		return ""
	}
	return strconv.Itoa(r.job.Pid())
}

// PluginToHost keeps the plugin's addresses: it shares the controller's file system.
func (r *jobRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

// HostToPlugin keeps the controller's addresses.
func (r *jobRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// close ends the job if it runs and frees what it holds (its uid, its cgroups).
func (r *jobRunner) close() process.Exit {
	if r.job == nil {
		return process.Exit{}
	}
	return r.job.Close("the run ended")
}
