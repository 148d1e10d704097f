package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/controller/plugin"
	"github.com/socklab/socklab/controller/pyrepr"
	"github.com/socklab/socklab/labs"
)

func labsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "labs",
		Short: "List, show and check labs",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the built-in labs and the installed lab plugins with their summaries",
		Long: `List the built-in labs, then the lab plugins installed in the plugins folder
(--plugin-dir, default $XDG_DATA_HOME/socklab/plugins, else ~/.local/share/socklab/plugins):
each is started and asked to describe itself. A plugin is an executable file there; a
NAME.sha256 beside it (sha256sum NAME > NAME.sha256) pins its SHA-256.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, name := range labs.Names() {
				l, err := labs.Load(name)
				if err != nil {
					return exitError{code: exitUsage, msg: err.Error()}
				}
				fmt.Fprintf(w, "%s\t%s\n", name, l.Summary)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			dir, err := pluginDir(cmd)
			if err != nil {
				return usageError{err}
			}
			installed, err := plugin.List(dir)
			if err != nil {
				return usageError{err}
			}
			if len(installed) == 0 {
				if cmd.Flags().Changed(pluginDirFlag) {
					fmt.Fprintf(cmd.OutOrStdout(), "\nno lab plugins installed in %s\n", dir)
				}
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nlab plugins installed in %s:\n", dir)
			for _, in := range installed {
				pin := "not pinned"
				if in.Checksum != nil {
					pin = "pinned"
				}
				l, err := in.Load(cmd.Context(), plugin.Options{})
				if err != nil {
					fmt.Fprintf(w, "%s\t(does not load: %v)\t%s\n", in.Name, err, pin)
					continue
				}
				l.Close()
				name := l.Info().Name
				if name != in.Name {
					name = in.Name + " (" + name + ")"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", name, l.Info().Summary, pin)
			}
			return w.Flush()
		},
	}, &cobra.Command{
		Use:   "show LAB",
		Short: "Show a lab (a built-in, a .star file or a lab plugin): summary, hosts, parameters with defaults, and checks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			al, err := openLab(cmd, args[0], "")
			if err != nil {
				return loadError(err)
			}
			defer al.Close()
			if al.plug != nil {
				return showPlugin(cmd.OutOrStdout(), args[0], al.plug)
			}
			l := al.star
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: %s\n", l.Name, l.Summary)
			if l.Doc != "" {
				fmt.Fprintf(out, "\n%s\n", l.Doc)
			}
			fmt.Fprintf(out, "\nhosts: %s\n", strings.Join(l.Hosts, ", "))
			if len(l.Topologies) > 0 {
				fmt.Fprintf(out, "runs on: --topology %s\n", strings.Join(l.Topologies, ", "))
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			if len(l.Params) > 0 {
				fmt.Fprintln(w, "\nparams:")
				for _, p := range l.Params {
					fmt.Fprintf(w, "  %s\t%s\tdefault %s\n", p.Name, p.Type(), p.Default)
				}
			}
			fmt.Fprintln(w, "\nchecks:")
			for _, c := range l.Checks {
				fmt.Fprintf(w, "  %s\t%d pt\t%s\n", c.ID, c.Points, c.Description)
			}
			fmt.Fprintf(w, "\nwatchdog: %s per blocking operation\n", l.Watchdog)
			return w.Flush()
		},
	}, &cobra.Command{
		Use:   "check LAB...",
		Short: "Load labs and report any error as file:line:col, without running them",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, a := range args {
				l, err := openLab(cmd, a, "")
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					bad++
					continue
				}
				l.Close()
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s)\n", a, l.Info().Name)
			}
			if bad > 0 {
				return exitError{code: exitUsage}
			}
			return nil
		},
	})
	return cmd
}

// showPlugin shows a lab plugin's declaration as labs show shows a Starlark lab's.
func showPlugin(out io.Writer, name string, l *plugin.Lab) error {
	s := l.Spec()
	fmt.Fprintf(out, "%s: %s\n", s.GetName(), s.GetSummary())
	fmt.Fprintf(out, "lab plugin: %s\n", name)
	if s.GetDoc() != "" {
		fmt.Fprintf(out, "\n%s\n", s.GetDoc())
	}
	fmt.Fprintf(out, "\nhosts: %s\n", strings.Join(s.GetHosts(), ", "))
	if len(s.GetTopologies()) > 0 {
		fmt.Fprintf(out, "runs on: --topology %s\n", strings.Join(s.GetTopologies(), ", "))
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if len(s.GetParams()) > 0 {
		params, _ := l.ParamValues(nil)
		fmt.Fprintln(w, "\nparams:")
		for _, p := range s.GetParams() {
			v := params[p.GetName()]
			fmt.Fprintf(w, "  %s\t%s\tdefault %s\n", p.GetName(), paramType(v), pyValue(v))
		}
	}
	fmt.Fprintln(w, "\nchecks:")
	for _, c := range l.Info().Checks {
		fmt.Fprintf(w, "  %s\t%d pt\t%s\n", c.ID, c.MaxPoints, c.Description)
	}
	fmt.Fprintf(w, "\nwatchdog: %s per blocking operation\n", l.Watchdog())
	return w.Flush()
}

// paramType names a parameter's type as a Starlark lab's shows it.
func paramType(v any) string {
	switch v.(type) {
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case []byte:
		return "bytes"
	}
	return "string"
}

// pyValue shows a parameter's value as Python's repr.
func pyValue(v any) string {
	switch v := v.(type) {
	case []byte:
		return pyrepr.Bytes(v, 0, 0)
	case string:
		return pyrepr.Str(v)
	case bool:
		return pyrepr.Bool(v)
	case float64:
		return pyrepr.Float(v)
	}
	return fmt.Sprint(v)
}
