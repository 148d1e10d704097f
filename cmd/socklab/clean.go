package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/controller/topology"
)

func cleanCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "clean",
		Short: "Remove what runs killed with SIGKILL left behind: network namespaces whose run is dead",
		Long: `Remove what runs that could not clean up after themselves (killed with SIGKILL, or
crashed) left behind: the network namespaces of --topology netns runs. Each carries the
pid and start time of the process that made it; only those whose process is gone are
removed, never a live run's. A run removes its own when it ends, and every netns run
cleans what dead runs left before it starts, so this is rarely needed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			removed, err := topology.CleanNetns()
			for _, r := range removed {
				fmt.Fprintf(cmd.OutOrStdout(), "removed network namespace %s\n", r)
			}
			if err != nil {
				return exitError{code: exitInfra, msg: err.Error()}
			}
			if len(removed) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to clean")
			}
			return nil
		},
	}
}
