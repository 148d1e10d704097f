package plugins_test

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/socklab/socklab/agent/python"
	"github.com/socklab/socklab/controller/plugin"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
	pluginv1 "github.com/socklab/socklab/proto/socklab/plugin/v1"
)

// pythonWithGRPC returns a python3 that imports grpc and cryptography (the system's
// first: a plugin runs with a PATH of the system's folders, under a uid of its own), or
// why there is none.
func pythonWithGRPC() (string, string) {
	candidates := []string{"/usr/bin/python3"}
	if p, err := python.Find(); err == nil {
		candidates = append(candidates, p)
	}
	why := ""
	for _, p := range candidates {
		out, err := exec.Command(p, "-c", "import grpc, cryptography, google.protobuf").CombinedOutput()
		if err == nil {
			return p, ""
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		why += p + ": " + lines[len(lines)-1] + "; "
	}
	return "", why + "install Debian's python3-grpcio and python3-cryptography"
}

// descriptorSet is the FileDescriptorSet of the lab plugin protocol and of go-plugin's
// broker and controller, each file after the files it imports.
func descriptorSet(t *testing.T) []byte {
	t.Helper()
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(f protoreflect.FileDescriptor)
	add = func(f protoreflect.FileDescriptor) {
		if seen[f.Path()] {
			return
		}
		seen[f.Path()] = true
		imports := f.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(f))
	}
	add(pluginv1.File_socklab_plugin_v1_lab_proto)
	for _, name := range []protoreflect.FullName{"plugin.ConnInfo", "plugin.Empty"} {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			t.Fatalf("go-plugin's %s: %v", name, err)
		}
		add(d.ParentFile())
	}
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPythonPlugin runs labs/plugins/python/echo_lab.py, a lab plugin in Python that
// speaks the protocol with grpcio: its operations land in the transcript as a Go
// plugin's do.
func TestPythonPlugin(t *testing.T) {
	py, why := pythonWithGRPC()
	if py == "" {
		t.Skip("no python3 with grpcio and cryptography: " + why)
	}
	src, err := os.ReadFile(filepath.Join("python", "echo_lab.py"))
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Replace(string(src), "#!/usr/bin/env python3", "#!"+py, 1)
	script = strings.Replace(script, `"@DESCRIPTORS@"`, `"`+base64.StdEncoding.EncodeToString(descriptorSet(t))+`"`, 1)
	path := filepath.Join(t.TempDir(), "python-echo")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := plugin.Load(t.Context(), path, plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Info().Name != "python-echo" {
		t.Errorf("Info() = %+v", l.Info())
	}
	rec := runner.Run(t.Context(), l, local, runner.Options{Params: []string{"port=" + strconv.Itoa(freePort(t))}}, nil)
	if rec.ExitCode != transcript.ExitPassed {
		t.Fatalf("exit %d: %s; checks %+v", rec.ExitCode, rec.Error, rec.Checks)
	}
	got := normalised(rec)
	joined := strings.Join(got, "\n")
	for _, want := range []string{"server s1 listen(5) -> None", "say the client says hello, from Python", "server s2 recv(1024) -> b'hello'", "client s1 recv(1024) -> b'HELLO'", "check client-gets-upper passed=true"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q in the transcript:\n%s", want, joined)
		}
	}
}
