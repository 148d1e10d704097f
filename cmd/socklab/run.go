package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/controller/htmlreport"
	"github.com/socklab/socklab/controller/lab"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/labs"
)

// runFlags are the flags run and demo share.
type runFlags struct {
	params     []string
	pace       time.Duration
	step       bool
	color      string
	format     string
	view       string
	out        string
	agents     []string
	token      string    // resolved from tok by runLab
	tok        tokenFlag // --token, --token-file, $SOCKLAB_TOKEN
	db         string
	inventory  string
	controller string
	files      string
	topo       string
	web        string        // --web ADDR: serve the run's live ladder there
	webRemote  bool          // --web-allow-remote
	webLinger  time.Duration // --web-linger
}

func (f *runFlags) register(cmd *cobra.Command, pace time.Duration) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.params, "param", nil, "set a lab parameter, NAME=VALUE (repeatable)")
	fl.DurationVar(&f.pace, "pace", pace, "pause after each step, for an audience")
	fl.BoolVar(&f.step, "step", false, "wait for Enter after each step")
	fl.StringVar(&f.view, "view", viewText, viewUsage)
	fl.StringVar(&f.color, "color", "auto", "colour the transcript: auto, always or never")
	fl.StringVar(&f.format, "format", "text", "what to print: text (the live transcript and checks) or jsonl (the run's start, its protojson events and its end, one JSON object a line)")
	fl.StringVar(&f.out, "out", "", "also write transcript.txt, transcript.jsonl, result.json and report.html (the run as a ladder diagram, with its checks) into this directory")
	fl.StringArrayVar(&f.agents, "agent", nil, "run a lab host on a running agent, ROLE=HOST:PORT or ROLE=NAME of an inventory agent (repeatable; default: local agents)")
	fl.StringVar(&f.controller, "controller", "", "run on a socklab controller at this address (its --token) instead of here")
	fl.StringVar(&f.inventory, "inventory", "", "an inventory file of agents: hosts bind to the agent of the same name, else to the next free one")
	f.tok = tokenFlag{name: "token", env: envToken}
	f.tok.register(fl, "the agents' token with --agent and --inventory, or the controller's with --controller")
	fl.StringVar(&f.topo, "topology", "local", "where the lab's hosts run: local (agents on loopback addresses of this machine), netns (a network namespace per host), docker (a container per host, on the engine DOCKER_HOST names)")
	fl.StringVar(&f.files, "files", "", "the directory t.files reads the programs a lab spawns from (default: the lab file's own directory)")
	fl.StringVar(&f.web, "web", "", "serve the run's ladder, live, with its pace, pause and step, at http://ADDR (HOST:PORT; loopback only unless --web-allow-remote)")
	fl.BoolVar(&f.webRemote, "web-allow-remote", false, "let --web serve an address that is not loopback: anyone who reaches it sees the run and steers its pace")
	fl.DurationVar(&f.webLinger, "web-linger", 10*time.Minute, "after the run, keep --web's page served until Ctrl-C, at most this long (0: stop at once)")
	fl.StringVar(&f.db, "db", "", "the run history's SQLite file (default $SOCKLAB_DB, else ~/.local/share/socklab/socklab.db); \"none\" (here or in $SOCKLAB_DB) keeps no history")
}

// topology returns where the run's hosts go: local agents, or the agents named by
// --agent and --inventory.
func (f runFlags) topology(warn io.Writer) (topology.Topology, error) {
	explicit := map[string]string{}
	for _, a := range f.agents {
		role, target, ok := strings.Cut(a, "=")
		if !ok || role == "" || target == "" {
			return nil, fmt.Errorf("--agent %q: want ROLE=HOST:PORT or ROLE=NAME", a)
		}
		explicit[role] = target
	}
	var inv *topology.Inventory
	if f.inventory != "" {
		var err error
		if inv, err = loadInventory(f.inventory, warn); err != nil {
			return nil, err
		}
	}
	for role, target := range explicit {
		if err := topology.CheckTarget(role, target, inv); err != nil {
			return nil, err
		}
	}
	if (len(explicit) > 0 || inv != nil) && f.topo != "local" {
		return nil, fmt.Errorf("--topology %s: the hosts go to the agents --agent and --inventory name; give one or the other", f.topo)
	}
	own, err := ownTopology(f.topo)
	if err != nil {
		return nil, err
	}
	return topology.Choose(explicit, inv, f.token, own), nil
}

// checkRoles checks that each --agent ROLE=... names one of the lab's hosts.
func checkRoles(info runner.Info, agents []string) error {
	for _, a := range agents {
		role, _, _ := strings.Cut(a, "=")
		if role != "" && !slices.Contains(info.Hosts, role) {
			return fmt.Errorf("--agent %s: %s has no host %s (its hosts: %s)", a, info.Name, role, strings.Join(info.Hosts, ", "))
		}
	}
	return nil
}

// ownTopology returns the topology named by --topology (local, netns or docker) whose
// agents this command line starts itself: they may start Python and the compilers.
func ownTopology(name string) (topology.Topology, error) {
	switch name {
	case "local", "":
		return topology.Local{Programs: policy.LocalPrograms}, nil
	case "netns":
		return topology.Netns{Programs: policy.LocalPrograms}, nil
	case "docker":
		return topology.Docker{Programs: policy.LocalPrograms}, nil
	}
	return nil, fmt.Errorf("--topology %q: use local, netns or docker", name)
}

func runCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run LAB",
		Short: "Run a lab (a built-in name or a .star file) and show its transcript",
		Long: `Run a lab on local agents (one per lab host, each on its own loopback address) and show
every socket operation on every host as it happens, then the checks.

LAB is a built-in lab's name (see "socklab labs list"), the path of a .star file, the
path of a lab plugin (an executable built with the SDK in labs/plugins/lab), or the name
of a plugin installed in the plugins folder (--plugin-dir).

Exit codes: 0 all checks passed; 1 a check failed, or the lab stopped on a socket error or
its watchdog; 2 a bad lab, usage or a refused token; 3 an agent unreachable or lost;
130 interrupted.`,
		Example: `  socklab run tcp-simple
  socklab run tcp-simple --param port=9090 --param message=hi
  socklab run ./mylab.star --pace 500ms
  socklab run /tmp/http-lab --files ./submission
  socklab run chat-relay --web 127.0.0.1:8088 --pace 300ms`,
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
		return labs.LoadFile(name)
	}
	for _, n := range labs.Names() {
		if n == name {
			return labs.Load(name)
		}
	}
	if _, err := os.Stat(name); err == nil {
		return labs.LoadFile(name)
	}
	return nil, fmt.Errorf("no built-in lab %q and no such file: see \"socklab labs list\"", name)
}

// writer returns what shows a run on out: the text transcript, or JSON lines. On a
// terminal the transcript shows calls that wait.
func writer(format string, out io.Writer, color bool) report.Writer {
	if format == "jsonl" {
		return report.NewJSONL(out)
	}
	return report.NewText(out, report.TextOptions{Color: color, Terminal: terminalWidth(out)})
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
	if err := checkView(f.view, f.format); err != nil {
		return usageError{err}
	}
	if f.token, err = f.tok.get(cmd); err != nil {
		return err
	}
	w := writer(f.format, out, color)
	if f.view == viewLadder {
		w = ladderWriter(out, color, f.controller != "")
	}
	if f.controller != "" {
		if f.files != "" {
			return usageError{fmt.Errorf("--files: a controller reads no files of this machine; run the lab here")}
		}
		if f.web != "" {
			return usageError{fmt.Errorf("--web serves a local run: a controller serves its runs' pages itself (socklab controller --web ADDR)")}
		}
		return remoteRun(cmd, name, f, w)
	}
	if f.files != "" {
		if st, err := os.Stat(f.files); err != nil || !st.IsDir() {
			return usageError{fmt.Errorf("--files %s: not a directory", f.files)}
		}
	}
	l, err := openLab(cmd, name, f.files)
	if err != nil {
		return loadError(err)
	}
	defer l.Close()
	if f.out != "" {
		if err := os.MkdirAll(f.out, 0o755); err != nil {
			return usageError{fmt.Errorf("--out: %w", err)}
		}
	}
	opts := runner.Options{Params: f.params, Pace: f.pace}
	if debug, _ := cmd.Flags().GetBool("debug"); debug {
		opts.Debug = cmd.ErrOrStderr()
	}
	if f.step && f.web == "" { // with --web, the page paces the run
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
	if err := checkRoles(l.Info(), f.agents); err != nil {
		return usageError{err}
	}
	topo, err := f.topology(cmd.ErrOrStderr())
	if err != nil {
		return usageError{err}
	}
	if topology.KindOf(topo) == "netns" && os.Geteuid() != 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), "socklab: not root: the hosts' network namespaces are made inside a user namespace of this run")
	}
	live, err := startWeb(cmd, f)
	if err != nil {
		return usageError{err}
	}
	defer live.close()
	live.pace(&opts, f.step, cmd.InOrStdin())
	hist := &history{path: f.db, warn: cmd.ErrOrStderr(), rec: store.NewRecording("")}
	defer hist.close()
	errOut := cmd.ErrOrStderr()
	var sink runner.Sink = beginning{Writer: w, begin: func(h transcript.Header) {
		fmt.Fprintf(errOut, "%s (--db none: not kept)\n", h.RunID)
	}}
	keep := keepsHistory(f.db)
	if keep {
		sink = beginning{Writer: w, begin: func(h transcript.Header) {
			hist.begin(cmd.Context(), h)
			fmt.Fprintf(errOut, "%s (print it again: socklab transcript %s)\n", h.RunID, h.RunID)
		}}
		if f.out == "" {
			// The history takes the transcript as the run goes; --out needs it whole.
			opts.Ordered = hist.rec.Add
		}
	}
	var whole *[]transcript.Entry
	if f.view == viewLadder {
		sink, whole = inDisplayOrder(&opts, sink, w, f.out != "")
	}
	live.feedOn(&opts)
	rec := runner.Run(cmd.Context(), l.runnerLab(), topo, opts, live.sink(sink))
	keepWhole(rec, whole)
	live.ended(rec)
	if len(rec.Header.Hosts) > 0 && keep {
		// The run is durable before it is reported done.
		if err := hist.save(cmd.Context(), rec); err != nil {
			return exitError{code: exitInfra, msg: err.Error()}
		}
	}
	if f.out != "" {
		if err := report.WriteDir(f.out, rec, htmlreport.File); err != nil {
			return exitError{code: exitInfra, msg: "--out: " + err.Error()}
		}
	}
	err = end(w, &rec.Result, f.format)
	live.linger(cmd, f.webLinger)
	return err
}

// end shows how a run ended (live, remote or stored) and returns its exit code as an
// error: a run whose lab never started prints only its error.
func end(w report.Writer, res *transcript.Result, format string) error {
	if res.ExitCode == exitUsage && len(res.Header.Hosts) == 0 {
		return exitError{code: res.ExitCode, msg: res.Error}
	}
	w.End(res)
	if res.ExitCode != exitOK {
		msg := ""
		if format != "text" {
			msg = res.Error // stdout holds only events: say on stderr what went wrong
		}
		return exitError{code: res.ExitCode, msg: msg}
	}
	return nil
}

func useColor(mode string, w io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		return os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" && isTerminal(w), nil
	}
	return false, fmt.Errorf("--color %q: want auto, always or never", mode)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// beginning is a run's writer that first has begin record the run's start.
type beginning struct {
	report.Writer
	begin func(transcript.Header)
}

// Header records the run's start, then shows it.
func (b beginning) Header(h transcript.Header) {
	b.begin(h)
	b.Writer.Header(h)
}

var _ runner.Waiter = beginning{}

// Calling passes a call's start on to the writer, if it shows calls that wait.
func (b beginning) Calling(id uint64, e transcript.Entry) {
	if w, ok := b.Writer.(runner.Waiter); ok {
		w.Calling(id, e)
	}
}

// Returned passes a call's return on to the writer, if it shows calls that wait.
func (b beginning) Returned(id uint64) {
	if w, ok := b.Writer.(runner.Waiter); ok {
		w.Returned(id)
	}
}

// history is a local run's history at path ("" = the default), opened once the run's
// hosts are bound: the run is listed as running from then on (interrupted, should this
// process die before it ends), and a run that never starts leaves no trace.
type history struct {
	path string
	warn io.Writer
	st   *store.Store
	err  error // opening the store failed: the run goes on, and saving it reports this
	rec  *store.Recording
}

// begin opens the history and records the run's start.
func (h *history) begin(ctx context.Context, hdr transcript.Header) {
	if h.st, h.err = openStore(h.path, h.warn); h.err == nil {
		// A failure here is the store's own, and saving the run at its end meets it too.
		_ = h.rec.Begin(context.WithoutCancel(ctx), h.st, hdr)
	}
}

// save stores the finished run.
func (h *history) save(ctx context.Context, rec *transcript.Record) error {
	if h.st == nil && h.err == nil {
		h.st, h.err = openStore(h.path, h.warn)
	}
	if h.err != nil {
		return h.err
	}
	// The run is saved even when it was interrupted: a history shows what happened.
	return h.rec.Save(context.WithoutCancel(ctx), h.st, rec)
}

// close closes the history, if it was opened.
func (h *history) close() {
	if h.st != nil {
		h.st.Close()
	}
}

// noHistory is the --db (or $SOCKLAB_DB) that keeps no run history.
const noHistory = "none"

// historyPath resolves --db: the flag, else $SOCKLAB_DB, else the default file; "none"
// (from either) is noHistory.
func historyPath(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	return store.DefaultPath()
}

// keepsHistory reports whether --db (or $SOCKLAB_DB) keeps a history.
func keepsHistory(flag string) bool {
	path, err := historyPath(flag)
	return err != nil || path != noHistory // an error is reported when the store opens
}

// errNoHistory is what reading a history that is not kept meets.
var errNoHistory = exitError{code: exitUsage, msg: "socklab: no run history is kept (--db none or SOCKLAB_DB=none): there are no runs to read"}

// openStore opens the run history at path ("" = the default), telling warn what it did
// about a file other users could read. A history that is not kept is errNoHistory.
func openStore(path string, warn io.Writer) (*store.Store, error) {
	path, err := historyPath(path)
	if err != nil {
		return nil, err
	}
	if path == noHistory {
		return nil, errNoHistory
	}
	st, err := store.Open(path)
	if err != nil {
		return nil, err
	}
	for _, n := range st.Notes() {
		fmt.Fprintln(warn, "socklab:", n)
	}
	return st, nil
}
