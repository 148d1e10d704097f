package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/controller/topology"
)

func imageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "The agent image of --topology docker",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "build",
		Short: "Build the agent image from this binary and the host's python3 (no registry needed)",
		Long: `Build the image the docker topology runs each lab host in: FROM scratch, with this
socklab binary as the agent and the host's own python3 (its interpreter, the libraries it
needs and its standard library) for the programs labs start. Nothing is pulled. The
image is tagged by a hash of its files, so it is rebuilt only when the binary or the
interpreter changes; a docker run builds it on first use too. The engine is the one
DOCKER_HOST names, else the local one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tag, err := topology.Docker{Programs: policy.LocalPrograms}.BuildImage(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return exitError{code: exitInfra, msg: err.Error()}
			}
			fmt.Fprintln(cmd.OutOrStdout(), tag)
			return nil
		},
	})
	return cmd
}
