package lab_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/socklab/socklab/labs"
)

// TestLoadConfined: a lab on this machine loads .star files of its own folder tree and
// the built-in helpers (@socklab//), from wherever it is; any other load is refused at
// the lab's load line, and no error quotes a file it was refused.
func TestLoadConfined(t *testing.T) {
	dir := t.TempDir()
	secret := "hunter2 is the password\n"
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("secret.star", secret)
	write("lab/secret", secret)
	write("lab/lib/helper.star", "load(\"../shared/more.star\", \"more\")\ndef helper():\n    return more()\n")
	write("lab/shared/more.star", "def more():\n    return 1\n")
	if err := os.Symlink(filepath.Join(dir, "secret.star"), filepath.Join(dir, "lab", "link.star")); err != nil {
		t.Fatal(err)
	}
	const rest = "\nlab(name = \"x\", summary = \"s\", hosts = [\"a\"])\n\ndef main(t):\n    pass\n"
	for _, tc := range []struct {
		name, load, want string
	}{
		{"built-in helper", `load("@socklab//lib/net.star", "listener")`, ""},
		{"built-in helper that loads another", `load("@socklab//lib/framing.star", "send_msg")`, ""},
		{"own folder tree", `load("lib/helper.star", "helper")`, ""},
		{"parent folder", `load("../secret.star", "x")`, `load "../secret.star": outside the lab's folder (`},
		{"absolute path", `load("` + filepath.Join(dir, "secret.star") + `", "x")`, `: outside the lab's folder (`},
		{"symbolic link out", `load("link.star", "x")`, `load "link.star": outside the lab's folder (`},
		{"not a .star file", `load("secret", "x")`, `load "secret": not a .star file`},
		{"no such helper", `load("@socklab//lib/nope.star", "x")`, `load "@socklab//lib/nope.star": no built-in helper @socklab//lib/nope.star`},
		{"helper escapes", `load("@socklab//../secret.star", "x")`, `no built-in helper`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, "lab", "lab.star")
			write("lab/lab.star", tc.load+"\n"+rest)
			_, err := labs.LoadFile(file)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("LoadFile: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadFile succeeded, want %q", tc.want)
			}
			if prefix := file + ":1:1: "; !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadFile error =\n  %v\nwant %q then %q", err, prefix, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "password") {
				t.Errorf("LoadFile error quotes the refused file: %v", err)
			}
		})
	}
}
