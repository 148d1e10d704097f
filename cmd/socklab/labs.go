package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/labs"
)

func labsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "labs",
		Short: "List, show and check labs",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the built-in labs with their summaries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, name := range labs.Names() {
				l, err := labs.Load(name)
				if err != nil {
					return exitError{code: exitUsage, msg: err.Error()}
				}
				fmt.Fprintf(w, "%s\t%s\n", name, l.Summary)
			}
			return w.Flush()
		},
	}, &cobra.Command{
		Use:   "show LAB",
		Short: "Show a lab: summary, hosts, parameters with defaults, and checks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := loadLab(args[0])
			if err != nil {
				return exitError{code: exitUsage, msg: err.Error()}
			}
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
				l, err := loadLab(a)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					bad++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%s)\n", a, l.Name)
			}
			if bad > 0 {
				return exitError{code: exitUsage}
			}
			return nil
		},
	})
	return cmd
}
