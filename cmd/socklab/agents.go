package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/controller/topology"
)

func agentsCommand() *cobra.Command {
	var inventory, token string
	cmd := &cobra.Command{
		Use:   "agents --inventory FILE",
		Short: "Show which agents of an inventory answer, with their version and host address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if inventory == "" {
				return usageError{fmt.Errorf("--inventory is required")}
			}
			if token == "" {
				token = os.Getenv("SOCKLAB_TOKEN")
			}
			inv, err := topology.LoadInventory(inventory)
			if err != nil {
				return usageError{err}
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tADDRESS\tSTATUS\tVERSION\tHOST ADDRESS\tLABELS")
			down := 0
			for _, s := range inv.Check(cmd.Context(), token) {
				state := "up"
				if s.Err != nil {
					state, down = "down: "+s.Err.Error(), down+1
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Agent.Name, s.Agent.Address, state, s.Version, s.HostAddress, strings.Join(s.Agent.Labels, ","))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if down > 0 {
				return exitError{code: 3, msg: fmt.Sprintf("%d of %d agents do not answer", down, len(inv.Agents))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&inventory, "inventory", "", "the inventory file listing the agents")
	cmd.Flags().StringVar(&token, "token", "", "the agents' token where the inventory gives none (default $SOCKLAB_TOKEN)")
	return cmd
}
