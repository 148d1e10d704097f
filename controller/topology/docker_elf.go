package topology

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// sharedLibraries returns the shared objects the ELF file at p loads, transitively, as
// this host's dynamic loader would find them: the loader itself (p's PT_INTERP, or when p
// is a shared object, that of loader, the program that loads it), then each DT_NEEDED
// looked up in the object's DT_RPATH (when it has no DT_RUNPATH), its DT_RUNPATH, the
// directories of /etc/ld.so.conf and the default ones, keeping only objects of p's class
// and machine; a name an object already loaded has as its soname is that object.
// missing names the objects it could not find. A static file needs none. It reads the
// files; unlike ldd, it runs nothing.
func sharedLibraries(p, loader string) (libs, missing []string, err error) {
	exe, err := elf.Open(p)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer exe.Close()
	class, machine := exe.Class, exe.Machine
	interp, err := interpreter(exe)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", p, err)
	}
	if needed, _ := exe.DynString(elf.DT_NEEDED); interp == "" && len(needed) == 0 {
		return nil, nil, nil // static, or a shared object that needs nothing
	}
	if interp == "" && loader != "" {
		lf, err := elf.Open(loader)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", loader, err)
		}
		interp, err = interpreter(lf)
		lf.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", loader, err)
		}
	}
	loaded := map[string]bool{} // the sonames (and needed names) of the objects loaded
	if interp != "" {
		libs = append(libs, interp)
		loaded[filepath.Base(interp)] = true
		if f, err := elf.Open(interp); err == nil {
			if so, _ := f.DynString(elf.DT_SONAME); len(so) > 0 {
				loaded[so[0]] = true
			}
			f.Close()
		}
	}
	found := map[string]bool{}
	var walk func(f *elf.File, path string, inherited []string) error
	walk = func(f *elf.File, path string, inherited []string) error {
		needed, _ := f.DynString(elf.DT_NEEDED)
		runpath, _ := f.DynString(elf.DT_RUNPATH)
		rpath, _ := f.DynString(elf.DT_RPATH)
		origin := filepath.Dir(path)
		var search []string
		if len(runpath) == 0 { // DT_RPATH counts only without DT_RUNPATH, and is inherited
			inherited = append(slices.Clone(inherited), expandOrigin(rpath, origin)...)
			search = append(search, inherited...)
		}
		search = append(search, expandOrigin(runpath, origin)...)
		search = append(search, loaderDirs()...)
		for _, name := range needed {
			if loaded[name] {
				continue
			}
			lib := findLibrary(name, search, class, machine)
			if lib == "" {
				if !slices.Contains(missing, name) {
					missing = append(missing, name)
				}
				continue
			}
			if found[lib] {
				continue
			}
			found[lib], loaded[name] = true, true
			libs = append(libs, lib)
			lf, err := elf.Open(lib)
			if err != nil {
				return fmt.Errorf("read %s: %w", lib, err)
			}
			if so, _ := lf.DynString(elf.DT_SONAME); len(so) > 0 {
				loaded[so[0]] = true
			}
			err = walk(lf, lib, inherited)
			lf.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(exe, p, nil); err != nil {
		return nil, nil, err
	}
	return libs, missing, nil
}

// interpreter returns the program interpreter (PT_INTERP) f names, or "".
func interpreter(f *elf.File) (string, error) {
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err != nil {
				return "", fmt.Errorf("its interpreter: %w", err)
			}
			return strings.TrimRight(string(b), "\x00"), nil
		}
	}
	return "", nil
}

// expandOrigin splits search paths (colon-separated) and puts origin for $ORIGIN.
func expandOrigin(paths []string, origin string) []string {
	var out []string
	for _, p := range paths {
		for _, d := range strings.Split(p, ":") {
			d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
			if d != "" {
				out = append(out, d)
			}
		}
	}
	return out
}

// findLibrary returns the first file name in dirs that is an ELF object of class and
// machine, or "". A name with a slash is a path.
func findLibrary(name string, dirs []string, class elf.Class, machine elf.Machine) string {
	if strings.Contains(name, "/") {
		dirs = []string{""}
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if d == "" {
			p = name
		}
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		ok := f.Class == class && f.Machine == machine
		f.Close()
		if ok {
			return p
		}
	}
	return ""
}

var (
	loaderDirsOnce sync.Once
	loaderDirsList []string
)

// loaderDirs returns the directories the dynamic loader searches after an object's own
// paths: those /etc/ld.so.conf names (following its includes), then the defaults.
func loaderDirs() []string {
	loaderDirsOnce.Do(func() {
		loaderDirsList = append(ldSoConf("/etc/ld.so.conf", 0), "/lib64", "/usr/lib64", "/lib", "/usr/lib")
	})
	return loaderDirsList
}

// ldSoConf returns the directories the ld.so.conf file at path names.
func ldSoConf(path string, depth int) []string {
	b, err := os.ReadFile(path)
	if err != nil || depth > 8 {
		return nil
	}
	var dirs []string
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || f[0] == "hwcap":
		case f[0] == "include":
			for _, pat := range f[1:] {
				if !filepath.IsAbs(pat) {
					pat = filepath.Join(filepath.Dir(path), pat)
				}
				matches, _ := filepath.Glob(pat)
				slices.Sort(matches)
				for _, m := range matches {
					dirs = append(dirs, ldSoConf(m, depth+1)...)
				}
			}
		default:
			dirs = append(dirs, f...)
		}
	}
	return dirs
}
