package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/socklab/socklab/controller/topology"
)

// Environment variables that hold tokens: a process's environment is readable only by
// its owner (and root), unlike its command line.
const (
	envToken      = "SOCKLAB_TOKEN"       // a command's own token (agent, controller) or the one it sends
	envAgentToken = "SOCKLAB_AGENT_TOKEN" // the controller's token for its agents
)

// tokenFlag is one bearer token a command takes, from --NAME-file (a file only its owner may
// read), an environment variable, or --NAME, which still works but is warned about: every
// local user reads a command line (ps, /proc/PID/cmdline).
type tokenFlag struct {
	name  string // the flag, "token"
	env   string // the environment variable, envToken
	value string // --NAME
	file  string // --NAME-file
}

// register adds --NAME and --NAME-file to f; what says whose token it is.
func (t *tokenFlag) register(f *pflag.FlagSet, what string) {
	f.StringVar(&t.file, t.name+"-file", "", fmt.Sprintf("read %s from this file, which must be private to its owner (chmod 600)", what))
	f.StringVar(&t.value, t.name, "", fmt.Sprintf("%s (default $%s); visible to every local user: prefer --%s-file or $%s", what, t.env, t.name, t.env))
}

// get returns the token: --NAME-file's contents, else --NAME's value (warning on cmd's
// stderr that it is exposed), else the environment variable's value ("" when unset).
func (t *tokenFlag) get(cmd *cobra.Command) (string, error) {
	given := cmd.Flags().Changed(t.name) && t.value != ""
	switch {
	case t.file != "" && given:
		return "", usageError{fmt.Errorf("--%s and --%s-file: give one of them", t.name, t.name)}
	case t.file != "":
		return readToken("--"+t.name+"-file", t.file)
	case given:
		fmt.Fprintf(cmd.ErrOrStderr(), "socklab: warning: --%s is visible to every user of this machine (ps, /proc/PID/cmdline): use --%s-file FILE or $%s\n", t.name, t.name, t.env)
		return t.value, nil
	}
	return os.Getenv(t.env), nil
}

// readToken reads a token file. A file that other users may read or write is refused, as
// ssh refuses such a private key: the token in it is as good as published, and one who
// can write it can choose an agent's token. Surrounding white space (the newline an
// editor adds) is not part of the token.
func readToken(flag, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", usageError{fmt.Errorf("%s: %w", flag, err)}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", usageError{fmt.Errorf("%s %s: mode %04o lets other users read or change the token: chmod 600 %s", flag, path, perm, path)}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", usageError{fmt.Errorf("%s: %w", flag, err)}
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return "", usageError{fmt.Errorf("%s %s: the file is empty", flag, path)}
	case strings.ContainsAny(tok, "\r\n"):
		return "", usageError{fmt.Errorf("%s %s: the file holds more than one line; a token is one line", flag, path)}
	}
	return tok, nil
}

// loadInventory loads an inventory file, warning on warn when it holds tokens and other
// users may read it (it is not refused: an inventory without tokens need not be private).
func loadInventory(path string, warn io.Writer) (*topology.Inventory, error) {
	inv, err := topology.LoadInventory(path)
	if err != nil {
		return nil, err
	}
	for _, a := range inv.Agents {
		if a.Token == "" {
			continue
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(warn, "socklab: warning: %s holds agents' tokens and other users may read it (mode %04o): chmod 600 %s\n", path, fi.Mode().Perm(), path)
		}
		break
	}
	return inv, nil
}
