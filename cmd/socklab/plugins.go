package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/plugin"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/labs"
)

// pluginDirFlag is the persistent flag naming the folder of installed lab plugins.
const pluginDirFlag = "plugin-dir"

// pluginDir is --plugin-dir, else the default folder of installed plugins.
func pluginDir(cmd *cobra.Command) (string, error) {
	if d, _ := cmd.Flags().GetString(pluginDirFlag); d != "" {
		return d, nil
	}
	return plugin.DefaultDir()
}

// anyLab is a lab the command line loaded: a Starlark lab, or a lab plugin started and
// described (Close ends its process).
type anyLab struct {
	star *lab.Lab
	plug *plugin.Lab
}

// runnerLab is the lab as the runner runs it.
func (l anyLab) runnerLab() runner.Lab {
	if l.plug != nil {
		return l.plug
	}
	return l.star
}

// Info describes the lab.
func (l anyLab) Info() runner.Info { return l.runnerLab().Info() }

// Close ends a plugin's process.
func (l anyLab) Close() {
	if l.plug != nil {
		l.plug.Close()
	}
}

// openLab loads LAB as the command line names it: the path of a lab plugin (an
// executable), a built-in lab, a .star file, or a plugin installed in the plugins folder
// (by its name). files is --files: what the lab's t.files (a plugin's ReadFiles) reads.
func openLab(cmd *cobra.Command, name, files string) (anyLab, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if plugin.IsPlugin(name) {
		p, err := plugin.Load(ctx, name, plugin.Options{FilesDir: files})
		return anyLab{plug: p}, err
	}
	if strings.HasSuffix(name, ".star") || strings.ContainsRune(name, os.PathSeparator) || isBuiltin(name) {
		l, err := loadLab(name)
		if err == nil && files != "" {
			l.FilesDir = files
		}
		return anyLab{star: l}, err
	}
	dir, derr := pluginDir(cmd)
	if derr == nil {
		in, err := plugin.Find(dir, name)
		if err == nil {
			p, err := in.Load(ctx, plugin.Options{FilesDir: files})
			return anyLab{plug: p}, err
		}
		if !errors.Is(err, plugin.ErrNotInstalled) {
			return anyLab{}, err
		}
	}
	l, err := loadLab(name)
	if err != nil {
		return anyLab{}, fmt.Errorf("no built-in lab %q, no such file and no plugin %q installed in %s: see \"socklab labs list\"", name, name, dir)
	}
	if files != "" {
		l.FilesDir = files
	}
	return anyLab{star: l}, nil
}

func isBuiltin(name string) bool {
	for _, n := range labs.Names() {
		if n == name {
			return true
		}
	}
	return false
}

// loadError is the exit of a lab that did not load: a plugin that crashed is the
// machinery's failure (3); anything else is a bad lab (2).
func loadError(err error) exitError {
	var ce *plugin.CrashError
	if errors.As(err, &ce) {
		return exitError{code: exitInfra, msg: "socklab: " + err.Error()}
	}
	return exitError{code: exitUsage, msg: err.Error()}
}
