package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

// exitError ends the command with code, after printing msg (if any) to stderr.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// runFlags are the flags run and demo share.
type runFlags struct {
	params     []string
	pace       time.Duration
	step       bool
	color      string
	format     string
	out        string
	agents     []string
	token      string
	db         string
	inventory  string
	controller string
}

func (f *runFlags) register(cmd *cobra.Command, pace time.Duration) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.params, "param", nil, "set a lab parameter, NAME=VALUE (repeatable)")
	fl.DurationVar(&f.pace, "pace", pace, "pause after each step, for an audience")
	fl.BoolVar(&f.step, "step", false, "wait for Enter after each step")
	fl.StringVar(&f.color, "color", "auto", "colour the transcript: auto, always or never")
	fl.StringVar(&f.format, "format", "text", "what to print: text (the live transcript and checks) or jsonl (protojson events, one per line)")
	fl.StringVar(&f.out, "out", "", "also write transcript.txt, transcript.jsonl and result.json into this directory")
	fl.StringArrayVar(&f.agents, "agent", nil, "run a lab host on a running agent, ROLE=HOST:PORT or ROLE=NAME of an inventory agent (repeatable; default: local agents)")
	fl.StringVar(&f.controller, "controller", "", "run on a socklab controller at this address (its --token) instead of here")
	fl.StringVar(&f.inventory, "inventory", "", "an inventory file of agents: hosts bind to the agent of the same name, else to the next free one")
	fl.StringVar(&f.token, "token", "", "the agents' token with --agent (default $SOCKLAB_TOKEN)")
	fl.StringVar(&f.db, "db", "", "the run history's SQLite file (default $SOCKLAB_DB, else ~/.local/share/socklab/socklab.db); \"none\" keeps no history")
}

// topology returns the local topology, or the agents named by --agent and --inventory.
func (f runFlags) topology() (topology.Topology, error) {
	if len(f.agents) == 0 && f.inventory == "" {
		return topology.Local{}, nil
	}
	token := f.token
	if token == "" {
		token = os.Getenv("SOCKLAB_TOKEN")
	}
	explicit := map[string]string{}
	for _, a := range f.agents {
		role, target, ok := strings.Cut(a, "=")
		if !ok || role == "" || target == "" {
			return nil, fmt.Errorf("--agent %q: want ROLE=HOST:PORT or ROLE=NAME", a)
		}
		explicit[role] = target
	}
	if f.inventory != "" {
		inv, err := topology.LoadInventory(f.inventory)
		if err != nil {
			return nil, err
		}
		return inv.Topology(explicit, token), nil
	}
	return topology.Static{Agents: explicit, Token: token}, nil
}

func runCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run LAB",
		Short: "Run a lab (a built-in name or a .star file) and show its transcript",
		Long: `Run a lab on local agents (one per lab host, each on its own loopback address) and show
every socket operation on every host as it happens, then the checks.

LAB is a built-in lab's name (see "socklab labs list") or the path of a .star file.

Exit codes: 0 all checks passed; 1 a check failed, or the lab stopped on a socket error or
its watchdog; 2 a bad lab or usage; 3 an agent unreachable or lost; 130 interrupted.`,
		Example: `  socklab run tcp-simple
  socklab run tcp-simple --param port=9090 --param message=hi
  socklab run ./mylab.star --pace 500ms`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLab(cmd, args[0], f)
		},
	}
	f.register(cmd, 0)
	return cmd
}

func demoCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "demo [LAB]",
		Short: "Run a showcase lab on local agents and show it live",
		Long: `Start local agents and run a lab across them, showing each operation live: by default
chat-relay, where a server on one host relays lines between clients on two others.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "chat-relay"
			if len(args) == 1 {
				name = args[0]
			}
			if !cmd.Flags().Changed("pace") && !isTerminal(cmd.OutOrStdout()) {
				f.pace = 0 // pacing is for an audience, not for a log
			}
			return runLab(cmd, name, f)
		},
	}
	f.register(cmd, 150*time.Millisecond)
	return cmd
}

// loadLab loads a built-in lab by name, or a lab file by path.
func loadLab(name string) (*lab.Lab, error) {
	if strings.HasSuffix(name, ".star") || strings.ContainsRune(name, os.PathSeparator) {
		return lab.Load(lab.DirSources{}, name)
	}
	for _, n := range labs.Names() {
		if n == name {
			return labs.Load(name)
		}
	}
	if _, err := os.Stat(name); err == nil {
		return lab.Load(lab.DirSources{}, name)
	}
	return nil, fmt.Errorf("no built-in lab %q and no such file: see \"socklab labs list\"", name)
}

func runLab(cmd *cobra.Command, name string, f runFlags) error {
	out := cmd.OutOrStdout()
	color, err := useColor(f.color, out)
	if err != nil {
		return usageError{err}
	}
	if f.format != "text" && f.format != "jsonl" {
		return usageError{fmt.Errorf("--format %q: want text or jsonl", f.format)}
	}
	if f.controller != "" {
		return remoteRun(cmd, name, f, color)
	}
	l, err := loadLab(name)
	if err != nil {
		return exitError{code: runner.ExitBadLab, msg: err.Error()}
	}
	if f.out != "" {
		if err := os.MkdirAll(f.out, 0o755); err != nil {
			return usageError{fmt.Errorf("--out: %w", err)}
		}
	}
	text := report.NewText(out, report.TextOptions{Color: color})
	var show runner.Sink = sink{text}
	if f.format == "jsonl" {
		show = jsonlSink{report.NewJSONL(out)}
	}
	opts := runner.Options{Params: f.params, Pace: f.pace}
	if f.step {
		lines := make(chan struct{})
		go func() { // one reader for the whole run; it ends with stdin or the process
			in := bufio.NewReader(cmd.InOrStdin())
			for {
				if _, err := in.ReadString('\n'); err != nil {
					close(lines)
					return
				}
				lines <- struct{}{}
			}
		}()
		opts.Step = func(done <-chan struct{}) {
			fmt.Fprint(cmd.ErrOrStderr(), "  [Enter] ")
			select {
			case <-lines:
			case <-done:
			}
		}
	}
	topo, err := f.topology()
	if err != nil {
		return usageError{err}
	}
	res := runner.Run(cmd.Context(), l, topo, opts, show)
	if len(res.Hosts) > 0 && f.db != "none" {
		// The run is durable before it is reported done.
		if err := saveRun(cmd.Context(), f.db, res); err != nil {
			return exitError{code: runner.ExitInfra, msg: err.Error()}
		}
	}
	if f.out != "" {
		if err := writeOutputs(f.out, res); err != nil {
			return exitError{code: runner.ExitInfra, msg: err.Error()}
		}
	}
	if res.ExitCode == runner.ExitBadLab && len(res.Hosts) == 0 {
		return exitError{code: res.ExitCode, msg: res.ErrorText()}
	}
	if f.format == "text" {
		if len(res.Hosts) > 0 {
			text.Checks(res.Checks)
		}
		text.Footer(res.Verdict(), res.ErrorText())
	}
	if res.ExitCode != runner.ExitPassed {
		msg := ""
		if f.format != "text" {
			msg = res.ErrorText() // stdout holds only events: say on stderr what went wrong
		}
		return exitError{code: res.ExitCode, msg: msg}
	}
	return nil
}

// sink shows a run on the text report.
type sink struct{ text *report.Text }

func (s sink) Header(l *lab.Lab, hosts []topology.Host) {
	hs := make([]report.Host, len(hosts))
	for i, h := range hosts {
		hs[i] = report.Host{Role: h.Role, Address: h.IP.String()}
	}
	s.text.Header(l.Name, l.Summary, hs)
}

func (s sink) Entry(e transcript.Entry) { s.text.Entry(e) }

func useColor(mode string, w io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		return os.Getenv("NO_COLOR") == "" && isTerminal(w), nil
	}
	return false, fmt.Errorf("--color %q: want auto, always or never", mode)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// jsonlSink shows a run as JSON lines.
type jsonlSink struct{ j *report.JSONL }

func (jsonlSink) Header(*lab.Lab, []topology.Host) {}
func (s jsonlSink) Entry(e transcript.Entry)       { s.j.Entry(e) }

// writeOutputs writes a finished run into dir: transcript.txt (the merged transcript as
// text, with the checks), transcript.jsonl (its events) and result.json.
func writeOutputs(dir string, res *runner.Result) error {
	var txt, jsonl bytes.Buffer
	t := report.NewText(&txt, report.TextOptions{})
	j := report.NewJSONL(&jsonl)
	if res.Lab != nil && len(res.Hosts) > 0 {
		sink{t}.Header(res.Lab, res.Hosts)
	}
	for _, e := range res.Entries {
		t.Entry(e)
		j.Entry(e)
	}
	if len(res.Hosts) > 0 {
		t.Checks(res.Checks)
	}
	t.Footer(res.Verdict(), res.ErrorText())
	result, err := json.MarshalIndent(res.File(), "", "  ")
	if err != nil {
		return fmt.Errorf("result.json: %w", err)
	}
	for name, data := range map[string][]byte{
		"transcript.txt": txt.Bytes(), "transcript.jsonl": jsonl.Bytes(), "result.json": append(result, '\n'),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	return nil
}

// saveRun stores a finished run in the history at path ("" = the default).
func saveRun(ctx context.Context, path string, res *runner.Result) error {
	st, err := openStore(path)
	if err != nil {
		return err
	}
	defer st.Close()
	// The run is saved even when it was interrupted: a history shows what happened.
	return st.SaveRun(context.WithoutCancel(ctx), res)
}

// openStore opens the run history at path ("" = the default).
func openStore(path string) (*store.Store, error) {
	if path == "" {
		var err error
		if path, err = store.DefaultPath(); err != nil {
			return nil, err
		}
	}
	return store.Open(path)
}
