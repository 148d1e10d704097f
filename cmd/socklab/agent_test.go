package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/errdefs"
)

// binary is the socklab binary built once for these tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test here execs the binary: none to build
	}
	dir, err := os.MkdirTemp("", "socklab-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "socklab")
	// Runs made by the tests go to a history of their own, never the user's.
	os.Setenv("SOCKLAB_DB", filepath.Join(dir, "history.db"))
	out, err := exec.Command("go", "build", "-trimpath", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// execsBinary skips t under -short: it execs the built socklab binary.
func execsBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("execs the built socklab binary; skipped with -short")
	}
}

// startAgent runs `socklab agent args...` and returns the address it serves on, read from
// its log; the process is interrupted and reaped when the test ends.
func startAgent(t *testing.T, args ...string) (addr string, cmd *exec.Cmd) {
	t.Helper()
	return startServer(t, "agent", args...)
}

// startServer runs `socklab what args...` (agent or controller) and returns the address it
// serves on, read from its log; the process is killed and reaped when the test ends.
func startServer(t *testing.T, what string, args ...string) (addr string, cmd *exec.Cmd) {
	t.Helper()
	return startCommand(t, what, exec.Command(binary, append([]string{what}, args...)...))
}

// startCommand starts cmd, which runs (or execs) `socklab what ...`, and returns the
// address it serves on, read from its log; the process is killed and reaped when the
// test ends.
func startCommand(t *testing.T, what string, cmd *exec.Cmd) (addr string, _ *exec.Cmd) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	re := regexp.MustCompile(`msg="` + what + ` serving" listen=(\S+)`)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the %s exited before serving", what)
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m[1], cmd
			}
		case <-timeout:
			t.Fatalf("the %s did not log that it serves within 10s", what)
		}
	}
}

// TestAgentCommand is issue 2's "done when", as a user would check it: the agent serves,
// reflection lists the service with the token, health answers SERVING without one, a call
// without the token is Unauthenticated, and Ctrl-C stops it cleanly.
func TestAgentCommand(t *testing.T) {
	execsBinary(t)
	addr, cmd := startAgent(t, "--listen", "127.0.0.1:0", "--token", "T", "--name", "lab-pc")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	anon, err := client.Dial(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	h, err := healthpb.NewHealthClient(anon.Conn()).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without a token = %v, %v; want SERVING", h.GetStatus(), err)
	}
	if _, err := anon.Hello(ctx); !errors.Is(err, errdefs.ErrUnauthenticated) {
		t.Errorf("Hello without the token = %v, want Unauthenticated", err)
	}

	c, err := client.Dial(addr, "T")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hello, err := c.Hello(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hello.GetName() != "lab-pc" || hello.GetHostAddress() != "127.0.0.1" {
		t.Errorf("Hello = name %q host %q, want lab-pc 127.0.0.1", hello.GetName(), hello.GetHostAddress())
	}
	rs, err := reflectionpb.NewServerReflectionClient(c.Conn()).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Recv()
	if err != nil {
		t.Fatalf("reflection with the token: %v", err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "socklab.v1.AgentService") {
		t.Errorf("reflection lists %v, want socklab.v1.AgentService among them", names)
	}
	// End the reflection stream, as a client that is done does: an open stream would hold
	// the agent's graceful stop below for its whole grace period.
	if err := rs.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Recv(); err != io.EOF {
		t.Fatalf("reflection stream after CloseSend: %v, want io.EOF", err)
	}

	// Ctrl-C: the agent closes its sessions and exits 0.
	if _, err := c.Open(ctx, time.Minute, "left open"); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("agent exit after Ctrl-C: %v, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop within 10s of Ctrl-C")
	}
}

func TestAgentCommandErrors(t *testing.T) {
	execsBinary(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"exposed without a token", []string{"--listen", "0.0.0.0:0"}, "--token"},
		{"bad port range", []string{"--bind-ports", "9000-80"}, "--bind-ports"},
		{"bad network", []string{"--allow-net", "10.0.0.0/33"}, "--allow-net"},
		{"bad host ip", []string{"--host-ip", "pc1"}, "--host-ip"},
		{"unknown flag", []string{"--frobnicate"}, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, append([]string{"agent"}, tc.args...)...)
			cmd.Env = append(os.Environ(), "SOCKLAB_TOKEN=")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).ExitStatus() != 2 {
				t.Fatalf("socklab agent %v: %v, want exit status 2\n%s", tc.args, err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output %q does not mention %q", out, tc.want)
			}
		})
	}
}
