package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/controller/users"
)

func usersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Make users for a controller's users file (socklab controller --users FILE)",
		Long: `A controller's users file lists its users (name, role, and the SHA-256 of each one's
token, never the token), the labs published to students and the agents assigned to each
student:

  labs:                        # what students may run, by name
    - tcp-simple               # a built-in lab
    - labs/echo-server.star    # a lab file beside the users file
  users:
    - name: alice
      role: student            # admin, instructor or student
      token_sha256: "3a7b..."
      agents: [pc1, pc2]       # the inventory agents a student's runs go to

"socklab users add" makes a user's token and the entry to add.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(usersAddCommand())
	return cmd
}

func usersAddCommand() *cobra.Command {
	var role string
	var agents []string
	cmd := &cobra.Command{
		Use:   "add NAME --role admin|instructor|student [--agent AGENT]...",
		Short: "Make a user's token: print it once, and the users file entry that holds only its hash",
		Long: `Make a fresh token for a user (32 random bytes) and print it once, with the entry to add
under users: in the controller's users file. The entry holds the token's SHA-256, never
the token: hand the token to its user, keep no copy, and restart the controller.

Roles: admin and instructor run any lab on any agent and see every run; a student runs
only the labs the file publishes, on the agents --agent assigns (with an --inventory),
and sees only their own runs.`,
		Example: `  socklab users add ines --role instructor
  socklab users add alice --role student --agent pc1 --agent pc2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := users.CheckName(name); err != nil {
				return usageError{err}
			}
			r := users.Role(role)
			if !r.Valid() {
				return usageError{fmt.Errorf("--role %q: use admin, instructor or student", role)}
			}
			if len(agents) > 0 && r != users.Student {
				return usageError{fmt.Errorf("--agent: agents are assigned to students; an %s may use every agent", r)}
			}
			token, hash := users.NewToken()
			entry, err := users.Entry(users.User{Name: name, Role: r, TokenSHA256: hash, Agents: agents})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "# %s's token, shown only now: hand it to %s, keep no copy (lost: make a new one)\n%s\n", name, name, token)
			fmt.Fprintf(out, "# add under users: in the controller's users file, then restart the controller\n")
			for line := range strings.Lines(entry) {
				fmt.Fprint(out, "  "+line)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "admin, instructor or student")
	cmd.Flags().StringArrayVar(&agents, "agent", nil, "an inventory agent this student's runs go to (repeatable)")
	return cmd
}
