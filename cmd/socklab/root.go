package main

import (
	"github.com/spf13/cobra"

	"github.com/socklab/socklab/agent/server"
)

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "socklab",
		Short: "Run multi-host socket labs on real sockets, with one transcript",
		Long: `socklab drives real sockets on one or more hosts from lab scripts.

Agents open sockets on command; a controller runs labs across them and collects one
transcript of every operation on every host.`,
		Version:       server.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(agentCommand(), agentsCommand(), controllerCommand(), cancelCommand(), runCommand(), demoCommand(), labsCommand(), runsCommand(), transcriptCommand(), cleanCommand(), imageCommand(), gradeCommand(), usersCommand())
	return root
}
