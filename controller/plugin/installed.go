package plugin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	socklabrunner "github.com/socklab/socklab/controller/runner"
)

// DefaultDir is the folder of installed plugins: $XDG_DATA_HOME/socklab/plugins, else
// ~/.local/share/socklab/plugins.
func DefaultDir() (string, error) {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory for the plugins folder: give --plugin-dir: %w", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "socklab", "plugins"), nil
}

// Installed is a plugin installed in a plugins folder: an executable file NAME, and
// optionally NAME.sha256 beside it, which pins the executable's SHA-256 (hex, as
// sha256sum writes it).
type Installed struct {
	// Name is the plugin's file name, by which socklab run and a remote caller name it.
	Name string
	// Path is the executable.
	Path string
	// Checksum is the pinned SHA-256; nil when the plugin has no pin.
	Checksum []byte
}

// List returns the plugins installed in dir, by name; a dir that does not exist holds
// none.
func List(dir string) ([]Installed, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugins folder %s: %w", dir, err)
	}
	var out []Installed
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sha256") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		in, err := Find(dir, e.Name())
		if err != nil {
			continue // not an executable file: not a plugin
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ErrNotInstalled is a plugin name that no plugins folder holds.
var ErrNotInstalled = errors.New("no such plugin installed")

// Find returns the plugin installed in dir as name, with its pin. A name is a plain file
// name: a path is refused (a remote caller runs installed plugins by name only).
func Find(dir, name string) (Installed, error) {
	if !ValidName(name) {
		return Installed{}, fmt.Errorf("plugin name %q: an installed plugin is named by its file name alone, without / or ..", name)
	}
	p := filepath.Join(dir, name)
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return Installed{}, fmt.Errorf("%w: %s", ErrNotInstalled, p)
	}
	in := Installed{Name: name, Path: p}
	pin, err := os.ReadFile(p + ".sha256")
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return Installed{}, fmt.Errorf("plugin %s: its pin: %w", name, err)
	default:
		f := strings.Fields(string(pin))
		if len(f) == 0 {
			return Installed{}, fmt.Errorf("plugin %s: its pin %s.sha256 is empty: write the SHA-256 in hex (sha256sum %s > %s.sha256)", name, p, name, name)
		}
		if in.Checksum, err = hex.DecodeString(f[0]); err != nil || len(in.Checksum) != 32 {
			return Installed{}, fmt.Errorf("plugin %s: its pin %s.sha256 is not a SHA-256 in hex (sha256sum %s > %s.sha256)", name, p, name, name)
		}
	}
	return in, nil
}

// ValidName reports whether name can name an installed plugin: a plain file name.
func ValidName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) && !strings.HasPrefix(name, ".") &&
		!strings.HasSuffix(name, ".sha256")
}

// Load starts the installed plugin, checked against its pin.
func (in Installed) Load(ctx context.Context, opts Options) (*Lab, error) {
	opts.Checksum = in.Checksum
	return Load(ctx, in.Path, opts)
}

// IsPlugin reports whether path looks like a lab plugin rather than a Starlark file: an
// executable file that does not end in .star.
func IsPlugin(path string) bool {
	if strings.HasSuffix(path, ".star") {
		return false
	}
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// ForFiles starts the lab's plugin again, for one run on the files in dir (a
// submission's folder): a plugin's process runs one lab run. Its Run closes it; so does
// Close.
func (l *Lab) ForFiles(ctx context.Context, dir string) (socklabrunner.Lab, error) {
	opts := l.opts
	opts.FilesDir = dir
	return Load(ctx, l.path, opts)
}
