package main

import (
	"fmt"

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
	root.PersistentFlags().String(pluginDirFlag, "", "the folder of installed lab plugins (default $XDG_DATA_HOME/socklab/plugins, else ~/.local/share/socklab/plugins)")
	root.PersistentFlags().Bool("debug", false, "also print what gRPC said of a failed call (its status code and words)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(agentCommand(), agentsCommand(), controllerCommand(), cancelCommand(), runCommand(), demoCommand(), labsCommand(), runsCommand(), transcriptCommand(), cleanCommand(), imageCommand(), gradeCommand(), usersCommand(), versionCommand())
	markUsage(root)
	return root
}

// markUsage makes every error the command line's parser finds before a command runs (an
// unknown command, a wrong number of arguments, a bad flag) a usage error: exit code 2,
// never 1 (a check failed).
func markUsage(c *cobra.Command) {
	if !c.Runnable() && c.HasSubCommands() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q: see %q", args[0], cmd.CommandPath(), cmd.CommandPath()+" --help")}
			}
			return cmd.Help()
		}
	}
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markUsage(sub)
	}
}
