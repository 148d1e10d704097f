package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func agentsCommand() *cobra.Command {
	var inventory, controller string
	tok := tokenFlag{name: "token", env: envToken}
	cmd := &cobra.Command{
		Use:   "agents --inventory FILE | --controller ADDR",
		Short: "Show which agents answer, with their version and host address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			token, err := tok.get(cmd)
			if err != nil {
				return err
			}
			if controller != "" {
				return remoteAgents(cmd, controller, token)
			}
			if inventory == "" {
				return usageError{fmt.Errorf("give --inventory FILE or --controller ADDR")}
			}
			inv, err := loadInventory(inventory, cmd.ErrOrStderr())
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
				return exitError{code: exitInfra, msg: fmt.Sprintf("%d of %d agents do not answer", down, len(inv.Agents))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&inventory, "inventory", "", "the inventory file listing the agents")
	tok.register(cmd.Flags(), "the agents' token where the inventory gives none, or the controller's")
	cmd.Flags().StringVar(&controller, "controller", "", "ask the socklab controller at this address about its agents")
	return cmd
}

// remoteAgents shows a controller's agents.
func remoteAgents(cmd *cobra.Command, addr, token string) error {
	c, err := dialController(addr, token)
	if err != nil {
		return err
	}
	defer c.Close()
	agents, err := c.ListAgents(cmd.Context())
	if err != nil {
		return controllerError(addr, token, err)
	}
	if len(agents) == 0 {
		fmt.Fprintln(cmd.OutOrStdout(), "the controller runs labs on local agents started for each run")
		return nil
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tADDRESS\tSTATUS\tVERSION\tHOST ADDRESS\tLABELS")
	down := 0
	for _, a := range agents {
		state := "up"
		if !a.GetUp() {
			state, down = "down: "+a.GetError(), down+1
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", a.GetName(), a.GetAddress(), state, a.GetVersion(), a.GetHostAddress(), strings.Join(a.GetLabels(), ","))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if down > 0 {
		return exitError{code: exitInfra, msg: fmt.Sprintf("%d of %d agents do not answer", down, len(agents))}
	}
	return nil
}
