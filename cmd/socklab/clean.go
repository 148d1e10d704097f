package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/controller/sandbox"
	"github.com/socklab/socklab/controller/topology"
)

func cleanCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "clean",
		Short: "Remove what runs killed with SIGKILL left behind: namespaces, containers, networks, cgroups",
		Long: `Remove what runs that could not clean up after themselves (killed with SIGKILL, or
crashed) left behind: the network namespaces of --topology netns runs, the containers
and networks of --topology docker runs (on the engine DOCKER_HOST names), and the memory
cgroups of the labs a controller ran in processes of their own. Each carries the
pid and start time of the process that made it; only those whose process is gone are
removed, never a live run's. A run removes its own when it ends, and every run cleans
what dead runs left before it starts, so this is rarely needed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			removed, err := topology.CleanNetns()
			for _, r := range removed {
				fmt.Fprintf(out, "removed network namespace %s\n", r)
			}
			if err != nil {
				return exitError{code: exitInfra, msg: err.Error()}
			}
			gone, derr := topology.CleanDocker(cmd.Context())
			for _, r := range gone {
				fmt.Fprintf(out, "removed %s\n", r)
			}
			switch {
			case derr != nil && !topology.NoEngine(derr):
				return exitError{code: exitInfra, msg: derr.Error()}
			case derr != nil:
				fmt.Fprintf(out, "no docker engine to clean: %v\n", derr)
			}
			groups, err := sandbox.CleanCgroups()
			for _, r := range groups {
				fmt.Fprintf(out, "removed memory cgroup %s\n", r)
			}
			if err != nil {
				return exitError{code: exitInfra, msg: err.Error()}
			}
			if len(removed)+len(gone)+len(groups) == 0 {
				fmt.Fprintln(out, "nothing to clean")
			}
			return nil
		},
	}
}
