package service_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/controller/service"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs/plugins/lab"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// echoPlugin and crashPlugin are the names under which this test binary is a lab plugin
// installed on a controller: one that passes, one that panics mid-run.
const (
	echoPlugin  = "echo-plugin"
	crashPlugin = "crash-plugin"
)

// servePlugin serves a small lab plugin: one message, upper-cased back (or, as
// crashPlugin, a panic after the first socket).
func servePlugin() {
	if filepath.Base(os.Args[0]) == crashPlugin {
		lab.Main(lab.Spec{Name: "crash", Summary: "panics mid-run", Hosts: []string{"server"}}, func(t *lab.T) {
			t.Host("server").Socket(lab.AF_INET, lab.SOCK_STREAM)
			panic("boom")
		})
	}
	lab.Main(lab.Spec{Name: "echo", Summary: "one message upper-cased back", Hosts: []string{"server", "client"},
		Checks: []lab.Check{{ID: "upper", Description: "the reply is upper-cased"}}}, func(t *lab.T) {
		server, client := t.Host("server"), t.Host("client")
		srv := server.Socket(lab.AF_INET, lab.SOCK_STREAM)
		srv.Bind(server.IP, 9000)
		srv.Listen(1)
		cli := client.Socket(lab.AF_INET, lab.SOCK_STREAM)
		cli.Connect(server.IP, 9000)
		conn, _ := srv.Accept()
		cli.SendAll([]byte("hi"))
		conn.SendAll([]byte(strings.ToUpper(string(conn.Recv(16)))))
		t.Check("upper", string(cli.Recv(16)) == "HI")
	})
	os.Exit(0)
}

// TestRunInstalledPlugin runs a lab plugin installed on the controller, by name; a path
// from a remote caller is refused, saying what to do.
func TestRunInstalledPlugin(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{echoPlugin, crashPlugin} {
		if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	addr := startControllerWith(t, func(s *service.Service) *service.Service { return s.WithPlugins(dir) })
	c := dial(t, addr, token)

	for _, path := range []string{filepath.Join(dir, echoPlugin), "./" + echoPlugin, "../x"} {
		_, err := c.RunLab(t.Context(), &socklabv1.RunLabRequest{Lab: path}, func(string) {}, newRecorder())
		if !errors.Is(err, errdefs.ErrPermissionDenied) || !strings.Contains(err.Error(), "by name only") {
			t.Errorf("RunLab(%q) = %v, want PermissionDenied: by name only", path, err)
		}
	}
	// A plugin that crashes ends its own run, stored with its error; the controller goes on.
	res, err := c.RunLab(t.Context(), &socklabv1.RunLabRequest{Lab: crashPlugin}, func(string) {}, newRecorder())
	if err != nil || res.ExitCode != transcript.ExitInfra || !strings.Contains(res.Error, "panic: boom") {
		t.Errorf("RunLab(%s) = %+v, %v; want exit 3 and the panic", crashPlugin, res, err)
	}
	rec := newRecorder()
	res, err = c.RunLab(t.Context(), &socklabv1.RunLabRequest{Lab: echoPlugin}, rec.started, rec)
	if err != nil {
		t.Fatalf("RunLab(%s) = %v", echoPlugin, err)
	}
	if res.ExitCode != transcript.ExitPassed || res.Header.Lab != "echo" {
		t.Errorf("result: lab %s, exit %d (%s)", res.Header.Lab, res.ExitCode, res.Error)
	}
	rec.mu.Lock()
	n := len(rec.entries)
	rec.mu.Unlock()
	if n < 9 {
		t.Errorf("%d entries streamed, want every operation", n)
	}
	_, err = c.RunLab(t.Context(), &socklabv1.RunLabRequest{Lab: "no-such-plugin"}, func(string) {}, newRecorder())
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "no lab plugin installed by that name") {
		t.Errorf("RunLab(no-such-plugin) = %v", err)
	}
}
