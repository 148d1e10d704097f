package topology

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/socklab/socklab/agent/python"
)

// The agent image: FROM scratch, two layers. The first holds a real python3 (its
// interpreter, standard library and shared libraries, and those of the socklab binary),
// which changes rarely; the second holds the socklab binary alone, so that a rebuilt
// binary costs one small layer and the engine's build cache keeps the first.
const (
	// imageRepo is the agent image's repository; its tag is a hash of its files.
	imageRepo = "socklab-agent"
	// imageLabel and imageLabelValue mark the agent image.
	imageLabel, imageLabelValue = "socklab", "agent"
	// agentPath is where the socklab binary runs in the image.
	agentPath = "/socklab"
	// imageLayout versions how the image is put together: a change here makes a new tag.
	imageLayout = "socklab-agent image v1"
	// staleImageAge is how old another agent image must be before a new build removes
	// it (when no container uses it): younger ones may be about to start a run.
	staleImageAge = time.Hour
)

// dockerfile assembles the image from the build context's two directories.
const dockerfile = "FROM scratch\nCOPY base/ /\nCOPY agent/ /\n"

// The layers of the build context.
const (
	layerBase  = "base"
	layerAgent = "agent"
)

// imageFile is one entry of the image: a file copied from this host, a directory or a
// symbolic link.
type imageFile struct {
	layer string      // layerBase or layerAgent
	name  string      // its absolute path in the image
	src   string      // the host file whose content it has (regular files)
	link  string      // the target of a symbolic link
	mode  fs.FileMode // type and permissions
	size  int64       // of src
}

// imageContext is the agent image's files and the tag they hash to.
type imageContext struct {
	files []imageFile
	tag   string
}

// contextKey names the inputs of an image context: the binary and the interpreter, each
// with its size, modification time and inode, so that a rebuilt binary gets a new
// context.
type contextKey struct {
	binary, python    string
	binSize, pySize   int64
	binTime, pyTime   time.Time
	binInode, pyInode uint64
}

var (
	// contexts memoises the image contexts of this process: gathering one reads some
	// 60 MB (a quarter of a second), which a run should not repeat when nothing changed.
	contextsMu sync.Mutex
	contexts   = map[contextKey]*imageContext{}
	// buildMu lets one build at a time run from this process, so that two runs wanting
	// the same new image build it once.
	buildMu sync.Mutex
)

// BuildImage builds the agent image, with the socklab binary d.Binary and this host's
// python3, unless the engine already has it, and returns its tag,
// "socklab-agent:<first 12 hex digits of a SHA-256 of its files>". Nothing is pulled:
// the image is FROM scratch, built from a context assembled here. The build's output
// goes to progress, if not nil.
func (d Docker) BuildImage(ctx context.Context, progress io.Writer) (string, error) {
	cli, err := dockerClient(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	return d.buildImage(ctx, cli, progress)
}

func (d Docker) buildImage(ctx context.Context, cli *client.Client, progress io.Writer) (string, error) {
	ic, err := d.imageContext(ctx)
	if err != nil {
		return "", err
	}
	if _, err := cli.ImageInspect(ctx, ic.tag); err == nil {
		return ic.tag, nil
	} else if !client.IsErrNotFound(err) {
		return "", fmt.Errorf("docker topology: look for image %s: %w", ic.tag, err)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if _, err := cli.ImageInspect(ctx, ic.tag); err == nil {
		return ic.tag, nil // built meanwhile by another run of this process
	}
	if err := buildContext(ctx, cli, ic, progress); err != nil {
		return "", err
	}
	removeStaleImages(ctx, cli, ic.tag)
	return ic.tag, nil
}

// imageContext gathers the image's files and their tag, once per binary and interpreter.
func (d Docker) imageContext(ctx context.Context) (*imageContext, error) {
	bin := d.Binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("docker topology: find the socklab binary: %w", err)
		}
		bin = exe
	}
	bin, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return nil, fmt.Errorf("docker topology: socklab binary: %w", err)
	}
	py, err := python.Find()
	if err != nil {
		return nil, fmt.Errorf("docker topology: the image needs python3: %w", err)
	}
	key := contextKey{binary: bin, python: py}
	for _, f := range []struct {
		path string
		size *int64
		mod  *time.Time
		ino  *uint64
	}{{bin, &key.binSize, &key.binTime, &key.binInode}, {py, &key.pySize, &key.pyTime, &key.pyInode}} {
		st, err := os.Stat(f.path)
		if err != nil {
			return nil, fmt.Errorf("docker topology: %w", err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("docker topology: %s is not a regular file", f.path)
		}
		*f.size, *f.mod, *f.ino = st.Size(), st.ModTime(), inode(st)
	}
	contextsMu.Lock()
	ic := contexts[key]
	contextsMu.Unlock()
	if ic != nil {
		return ic, nil
	}
	ic, err = gatherContext(ctx, bin, py)
	if err != nil {
		return nil, err
	}
	contextsMu.Lock()
	contexts[key] = ic
	contextsMu.Unlock()
	return ic, nil
}

// gatherContext lists the image's files (the binary bin, the interpreter py and what
// they need) and hashes them into the image's tag.
func gatherContext(ctx context.Context, bin, py string) (*imageContext, error) {
	files := newFileSet()
	files.dir(layerBase, "/tmp", fs.ModeSticky|0o777)
	files.dir(layerBase, "/run", 0o755)
	if err := addPython(ctx, files, py); err != nil {
		return nil, err
	}
	if err := addTools(files); err != nil {
		return nil, err
	}
	libs, missing, err := sharedLibraries(bin, "")
	if err != nil {
		return nil, fmt.Errorf("docker topology: socklab binary: %w", err)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("docker topology: socklab binary %s needs libraries this host lacks: %s", bin, strings.Join(missing, ", "))
	}
	for _, l := range libs {
		if err := files.file(layerBase, l, l); err != nil {
			return nil, err
		}
	}
	// The loader's cache lets the image's loader find a library where this host's found
	// it, in a directory of ld.so.conf it would not search by default.
	if _, err := os.Stat("/etc/ld.so.cache"); err == nil {
		if err := files.file(layerBase, "/etc/ld.so.cache", "/etc/ld.so.cache"); err != nil {
			return nil, err
		}
	}
	if err := files.file(layerAgent, agentPath, bin); err != nil {
		return nil, err
	}
	ic := &imageContext{files: files.sorted()}
	sum, err := hashFiles(ic.files)
	if err != nil {
		return nil, err
	}
	ic.tag = imageRepo + ":" + sum[:12]
	return ic, nil
}

// imageTools are the host's commands the image carries, for programs that run a shell
// command (the tutorial's remote-command server runs "echo", "seq" and "printf" through
// subprocess with shell = True) and for what tests start: a shell and harmless commands
// that read and print, none that reaches the network or changes the system.
var imageTools = []string{"sh", "echo", "printf", "seq", "cat", "ls", "head", "tail", "wc", "sleep", "true", "false", "id", "env", "grep", "cut", "tr"}

// addTools adds the host's tools that exist (at /bin and /usr/bin, as the agent's
// ProgramPath searches) and their shared libraries; a missing one is left out.
func addTools(files *fileSet) error {
	for _, name := range imageTools {
		var path string
		for _, dir := range []string{"/usr/bin", "/bin"} {
			if st, err := os.Stat(filepath.Join(dir, name)); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				path = filepath.Join(dir, name)
				break
			}
		}
		if path == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			continue
		}
		libs, missing, err := sharedLibraries(real, "")
		if err != nil || len(missing) > 0 {
			continue // not a program this image's loader could run
		}
		if !files.has(real) {
			if err := files.file(layerBase, real, real); err != nil {
				return err
			}
		}
		for _, alias := range []string{"/bin/" + name, "/usr/bin/" + name} {
			if alias != real && !files.has(alias) {
				files.symlink(layerBase, alias, real)
			}
		}
		for _, l := range libs {
			if !files.has(l) {
				if err := files.file(layerBase, l, l); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// pythonLayout is what the interpreter says of itself.
type pythonLayout struct {
	Stdlib     string `json:"stdlib"`
	PlatStdlib string `json:"platstdlib"`
	DynLoad    string `json:"dynload"`
}

// pythonLayoutScript prints the interpreter's standard library directories as JSON.
const pythonLayoutScript = `import json, sys, sysconfig
p = sysconfig.get_paths()
print(json.dumps({"stdlib": p["stdlib"], "platstdlib": p["platstdlib"],
                  "dynload": sysconfig.get_config_var("DESTSHARED") or ""}))`

// addPython adds the interpreter py (as found, and at its real path), its shared
// libraries and its standard library, less what a lab's programs never use: tests,
// IDLE, Tk, compiled caches, third-party packages and the static library.
func addPython(ctx context.Context, files *fileSet, py string) error {
	real, err := filepath.EvalSymlinks(py)
	if err != nil {
		return fmt.Errorf("docker topology: python3: %w", err)
	}
	if err := files.file(layerBase, real, real); err != nil {
		return err
	}
	// Where the agent looks for python3 (agent/python): the path found here, and
	// /usr/bin/python3 when the interpreter lives elsewhere (a version manager's).
	for _, name := range []string{py, "/usr/bin/python3"} {
		if name != real && !files.has(name) {
			files.symlink(layerBase, name, real)
		}
	}
	cmd := exec.CommandContext(ctx, real, "-I", "-S", "-c", pythonLayoutScript)
	cmd.Env = []string{}
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("docker topology: ask %s for its library: %w", real, err)
	}
	var lay pythonLayout
	if err := json.Unmarshal(out, &lay); err != nil || lay.Stdlib == "" {
		return fmt.Errorf("docker topology: %s describes its library as %q", real, out)
	}
	libs, missing, err := sharedLibraries(real, "")
	if err != nil {
		return fmt.Errorf("docker topology: python3: %w", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("docker topology: %s needs libraries this host lacks: %s", real, strings.Join(missing, ", "))
	}
	var exts []string // extension modules, whose libraries come too
	for _, dir := range []string{lay.Stdlib, lay.PlatStdlib, lay.DynLoad} {
		if dir == "" || files.has(dir) {
			continue
		}
		if err := addTree(files, dir, &exts); err != nil {
			return err
		}
	}
	for _, ext := range exts {
		need, missing, err := sharedLibraries(ext, real)
		if err != nil {
			return fmt.Errorf("docker topology: python3 module %s: %w", ext, err)
		}
		if len(missing) > 0 {
			files.remove(ext) // a module that could not load here either
			continue
		}
		libs = append(libs, need...)
	}
	for _, l := range libs {
		if err := files.file(layerBase, l, l); err != nil {
			return err
		}
	}
	return nil
}

// skipDirs are the standard library's directories the image leaves out.
var skipDirs = map[string]bool{
	"__pycache__": true, "test": true, "tests": true, "idlelib": true, "tkinter": true,
	"turtledemo": true, "ensurepip": true,
}

// emptyDirs are kept empty: third-party packages are this host's, not the labs'.
var emptyDirs = map[string]bool{"site-packages": true, "dist-packages": true}

// addTree adds the directory root of the standard library and what it holds (symbolic
// links to files as the files they name), and appends its extension modules to exts.
func addTree(files *fileSet, root string, exts *[]string) error {
	return filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("docker topology: python3 library: %w", err)
		}
		name := e.Name()
		if e.IsDir() {
			if p != root && (skipDirs[name] || strings.HasPrefix(name, "config-") || emptyDirs[filepath.Base(filepath.Dir(p))]) {
				return filepath.SkipDir
			}
			files.dir(layerBase, p, 0o755)
			return nil
		}
		if emptyDirs[filepath.Base(filepath.Dir(p))] {
			return nil
		}
		src := p
		if e.Type()&fs.ModeSymlink != 0 {
			if src, err = filepath.EvalSymlinks(p); err != nil {
				return nil // a link to nothing: nothing to copy
			}
			if st, err := os.Stat(src); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !e.Type().IsRegular() {
			return nil
		}
		if strings.HasPrefix(name, "_tkinter") {
			return nil
		}
		if err := files.file(layerBase, p, src); err != nil {
			return err
		}
		if strings.HasSuffix(name, ".so") {
			*exts = append(*exts, p)
		}
		return nil
	})
}

// fileSet is the image's files by path, each directory of them included.
type fileSet struct{ m map[string]imageFile }

func newFileSet() *fileSet { return &fileSet{m: map[string]imageFile{}} }

func (s *fileSet) has(name string) bool { _, ok := s.m[filepath.Clean(name)]; return ok }

func (s *fileSet) remove(name string) { delete(s.m, filepath.Clean(name)) }

// parents adds the directories above name (mode 0755, whatever their mode on this host:
// a program running as a job's uid must reach the interpreter under /root/.pyenv).
func (s *fileSet) parents(layer, name string) {
	for d := filepath.Dir(name); d != "/"; d = filepath.Dir(d) {
		if _, ok := s.m[d]; ok {
			return
		}
		s.m[d] = imageFile{layer: layer, name: d, mode: fs.ModeDir | 0o755}
	}
}

// dir adds the directory name.
func (s *fileSet) dir(layer, name string, perm fs.FileMode) {
	name = filepath.Clean(name)
	s.parents(layer, name)
	s.m[name] = imageFile{layer: layer, name: name, mode: fs.ModeDir | perm}
}

// symlink adds a symbolic link at name to target.
func (s *fileSet) symlink(layer, name, target string) {
	name = filepath.Clean(name)
	s.parents(layer, name)
	s.m[name] = imageFile{layer: layer, name: name, link: target, mode: fs.ModeSymlink | 0o777}
}

// file adds the regular file src of this host as name in the image, with src's
// permissions (setuid and the like dropped).
func (s *fileSet) file(layer, name, src string) error {
	name = filepath.Clean(name)
	if f, ok := s.m[name]; ok && f.src != "" {
		return nil // a library two programs need
	}
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("docker topology: image file %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("docker topology: image file %s: %s is not a regular file", name, src)
	}
	s.parents(layer, name)
	s.m[name] = imageFile{layer: layer, name: name, src: src, mode: st.Mode().Perm() | 0o444, size: st.Size()}
	return nil
}

// sorted returns the files in the order they go into the build context: by layer, then
// by path, so that each directory comes before what it holds.
func (s *fileSet) sorted() []imageFile {
	out := make([]imageFile, 0, len(s.m))
	for _, f := range s.m {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b imageFile) int {
		if a.layer != b.layer {
			return strings.Compare(b.layer, a.layer) // "base" before "agent"
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

// hashFiles returns the hex SHA-256 of the image's layout and files: each file's layer,
// path, mode, link target and content.
func hashFiles(files []imageFile) (string, error) {
	h := sha256.New()
	io.WriteString(h, imageLayout+"\x00"+dockerfile+"\x00")
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%s\x00%o\x00%s\x00", f.layer, f.name, uint32(f.mode), f.link)
		if f.src == "" {
			continue
		}
		fmt.Fprintf(h, "%d\x00", f.size)
		if err := copyFile(h, f); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyFile writes f's content to w, checking it still has the size it had when listed.
func copyFile(w io.Writer, f imageFile) error {
	r, err := os.Open(f.src)
	if err != nil {
		return fmt.Errorf("docker topology: image file %s: %w", f.name, err)
	}
	defer r.Close()
	n, err := io.Copy(w, io.LimitReader(r, f.size))
	if err == nil && n != f.size {
		err = fmt.Errorf("%s shrank from %d to %d bytes while the image was made", f.src, f.size, n)
	}
	if err != nil {
		return fmt.Errorf("docker topology: image file %s: %w", f.name, err)
	}
	return nil
}

// writeContext writes the build context, a tar of the Dockerfile and each layer's
// directory, to w. Every entry is root's, dated at the epoch, so that the layers of
// equal files are equal.
func writeContext(w io.Writer, files []imageFile) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	hdr := func(name string, typ byte, mode fs.FileMode, size int64, link string) *tar.Header {
		m := int64(mode.Perm())
		if mode&fs.ModeSticky != 0 {
			m |= 0o1000
		}
		return &tar.Header{Name: name, Typeflag: typ, Mode: m, Size: size, Linkname: link,
			ModTime: epoch, AccessTime: epoch, ChangeTime: epoch, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(hdr("Dockerfile", tar.TypeReg, 0o644, int64(len(dockerfile)), "")); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return err
	}
	for _, layer := range []string{layerBase, layerAgent} {
		if err := tw.WriteHeader(hdr(layer+"/", tar.TypeDir, 0o755, 0, "")); err != nil {
			return err
		}
	}
	for _, f := range files {
		name := f.layer + f.name
		var err error
		switch {
		case f.mode.IsDir():
			err = tw.WriteHeader(hdr(name+"/", tar.TypeDir, f.mode, 0, ""))
		case f.mode&fs.ModeSymlink != 0:
			err = tw.WriteHeader(hdr(name, tar.TypeSymlink, f.mode, 0, f.link))
		default:
			if err = tw.WriteHeader(hdr(name, tar.TypeReg, f.mode, f.size, "")); err == nil {
				err = copyFile(tw, f)
			}
		}
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// buildContext builds the image of ic, streaming its context to the engine, and
// checks the engine made it.
func buildContext(ctx context.Context, cli *client.Client, ic *imageContext, progress io.Writer) error {
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := writeContext(pw, ic.files)
		pw.CloseWithError(err)
		written <- err
	}()
	resp, err := cli.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags: []string{ic.tag}, Labels: map[string]string{imageLabel: imageLabelValue},
		Dockerfile: "Dockerfile", Remove: true, ForceRemove: true,
	})
	if err != nil {
		pr.CloseWithError(err)
		<-written
		return fmt.Errorf("docker topology: build image %s: %w", ic.tag, err)
	}
	buildErr := readBuild(resp.Body, progress)
	resp.Body.Close()
	pr.CloseWithError(errors.New("build ended"))
	if err := <-written; err != nil && buildErr == nil {
		buildErr = err
	}
	if buildErr != nil {
		return fmt.Errorf("docker topology: build image %s: %w", ic.tag, buildErr)
	}
	if _, err := cli.ImageInspect(ctx, ic.tag); err != nil {
		return fmt.Errorf("docker topology: build image %s: the engine reports no such image after the build: %w", ic.tag, err)
	}
	return nil
}

// buildMessage is one message of the engine's build output.
type buildMessage struct {
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// readBuild reads the engine's build output to its end, copying its text to progress,
// and returns the error it reports, if any.
func readBuild(r io.Reader, progress io.Writer) error {
	dec := json.NewDecoder(r)
	for {
		var m buildMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read the engine's answer: %w", err)
		}
		if m.Error != "" || m.ErrorDetail.Message != "" {
			return fmt.Errorf("the engine says: %s", strings.TrimSpace(m.Error+" "+m.ErrorDetail.Message))
		}
		if progress != nil && m.Stream != "" {
			io.WriteString(progress, m.Stream)
		}
	}
}

// removeStaleImages removes the agent images other than keep made over staleImageAge
// ago that no container uses (the engine refuses those), so that rebuilt binaries do not
// pile images up. It does its best and reports nothing.
func removeStaleImages(ctx context.Context, cli *client.Client, keep string) {
	imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", imageLabel+"="+imageLabelValue))})
	if err != nil {
		return
	}
	for _, img := range imgs {
		ours := true // untagged, or tagged only as another agent image
		for _, t := range img.RepoTags {
			ours = ours && t != keep && (strings.HasPrefix(t, imageRepo+":") || t == "<none>:<none>")
		}
		if ours && time.Since(time.Unix(img.Created, 0)) > staleImageAge {
			_, _ = cli.ImageRemove(ctx, img.ID, image.RemoveOptions{PruneChildren: true})
		}
	}
}
