package main

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/socklab/socklab/agent/server"
	"github.com/socklab/socklab/controller/htmlreport"
	"github.com/socklab/socklab/controller/plugin"
	"github.com/socklab/socklab/controller/remote"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/sandbox"
	"github.com/socklab/socklab/controller/service"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/topology"
	"github.com/socklab/socklab/controller/transcript"
	"github.com/socklab/socklab/controller/users"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

func controllerCommand() *cobra.Command {
	var listen, db, inventory, topo, usersFile, webAddr string
	tok := tokenFlag{name: "token", env: envToken}
	agentTok := tokenFlag{name: "agent-token", env: envAgentToken}
	var insecure bool
	var lease time.Duration
	var keepRuns, keepDays int
	budgets := runner.DefaultBudgets
	maxMemory := byteSize(budgets.Memory)
	maxMessage := byteSize(defaultMaxMessage)
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Serve socklab.v1.ControllerService: run labs for remote command lines, keep the history",
		Long: `Serve socklab.v1.ControllerService. Command lines anywhere run labs on this controller's
agents with "socklab run LAB --controller ADDR" and read its history with
"socklab runs --controller ADDR" and "socklab transcript RUN --controller ADDR".
Without --inventory, labs run on local agents started for each run.

Each call carries a user's token: --token's is an admin's; a --users file adds
instructors and students (socklab users add), the labs published to students and the
agents assigned to each. Admins and instructors run any lab on any agent and see every
run; students run only published labs, on their own agents, and see only their own runs.
With --topology netns, labs of authenticated users start programs on this controller's
own agents, a student's only in published labs; on the local topology a program would
share this host's network, so remote runs start none.

Each run has budgets: its wall time (a lab's own timeout may be shorter), the memory of
the process that runs its Starlark (a cgroup where one can be made, and a watchdog of
its RSS), its Starlark steps and its futures. A run over one ends with verdict error,
the error naming the budget, and is stored; the controller and its other runs carry on.

Remote command lines also run the lab plugins installed in --plugin-dir (default
$XDG_DATA_HOME/socklab/plugins), by name only: a path is refused. Each runs contained
(labs/PLUGINS.md); a plugin that crashes ends its own run.

With --web ADDR, each run has a page at http://ADDR/runs/RUN: its ladder, growing live
while it runs (its pace, pause and step in the page), replayed once stored, and its
checks. A page asks for the same token as the API (a bearer header, or a login form that
sets a cookie) and shows a user only the runs the API would: a student's own. Without a
token it serves only loopback.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			token, err := tok.get(cmd)
			if err != nil {
				return err
			}
			agentToken, err := agentTok.get(cmd)
			if err != nil {
				return err
			}
			var uf *users.File
			if usersFile != "" {
				var err error
				if uf, err = users.Load(usersFile); err != nil {
					return usageError{err}
				}
			} else if err := server.CheckExposure(listenIP(listen), listen, token, insecure); err != nil {
				return usageError{err} // a users file asks every call for a token
			}
			var inv *topology.Inventory
			if inventory != "" {
				if inv, err = loadInventory(inventory, cmd.ErrOrStderr()); err != nil {
					return usageError{err}
				}
			}
			keep, err := retention(keepRuns, keepDays)
			if err != nil {
				return usageError{err}
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			if !keepsHistory(db) {
				return usageError{fmt.Errorf("--db none (or SOCKLAB_DB=none): a controller keeps its runs' history; give --db PATH")}
			}
			st, err := openStore(db, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer st.Close()
			if keep != (store.Retention{}) {
				n, err := st.Prune(cmd.Context(), keep)
				if err != nil {
					return err
				}
				log.Info("history pruned", "deleted", n, "keep_runs", keepRuns, "keep_days", keepDays)
				st.Keep(keep) // and as each run is stored
			}
			var own, ownPrograms topology.Topology
			switch topo {
			case "local":
				// Programs would share this host's network, loopback services and all: the
				// local topology confines a remote lab's sockets, not a program's.
				own, ownPrograms = service.Local, service.Local
			case "netns":
				own, ownPrograms = service.Netns, service.NetnsPrograms
			default:
				return usageError{fmt.Errorf("--topology %q: use local or netns", topo)}
			}
			topos := func(agents map[string]string) topology.Topology {
				return topology.Choose(agents, inv, agentToken, own)
			}
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen %s: %w", listen, err)
			}
			programs := func(agents map[string]string) topology.Topology {
				return topology.Choose(agents, inv, agentToken, ownPrograms)
			}
			dir, err := users.NewDirectory(uf, token)
			if err != nil {
				return usageError{err}
			}
			budgets.Memory = int64(maxMemory)
			if budgets.Time < 0 || budgets.Memory < 0 || budgets.Futures < 0 {
				return usageError{fmt.Errorf("--max-run-time, --max-run-memory and --max-run-futures cannot be negative (0: no bound)")}
			}
			plugins, err := pluginDir(cmd)
			if err != nil {
				return usageError{err}
			}
			svc := service.New(st, topos, lease).WithInventory(inv, agentToken).WithPrograms(programs).WithBudgets(budgets).WithPlugins(plugins)
			guard, err := service.NewGuard(svc, uf)
			if err != nil {
				return usageError{err}
			}
			if maxMessage <= 0 {
				return usageError{fmt.Errorf("--max-message must be positive")}
			}
			gs := grpc.NewServer(append(dir.ServerOptions(), grpc.MaxRecvMsgSize(int(maxMessage)))...)
			socklabv1.RegisterControllerServiceServer(gs, guard)
			hs := health.NewServer()
			healthpb.RegisterHealthServer(gs, hs)
			reflection.Register(gs)
			log.Info("controller serving", "listen", lis.Addr().String(), "inventory", inventory, "token", token != "", "users", usersFile)
			log.Info("run budgets", "max_run_time", budgets.Time, "max_run_memory", maxMemory.String(),
				"max_run_steps", budgets.Steps, "max_run_futures", budgets.Futures, "memory_bound", sandbox.MemoryBound())
			if webAddr != "" {
				served, err := serveRunPages(cmd, webAddr, guard.Pages(dir), usersFile != "" || token != "", insecure, log)
				if err != nil {
					return err
				}
				defer func() { <-served }()
			}
			go func() {
				<-cmd.Context().Done()
				gs.GracefulStop()
			}()
			return gs.Serve(lis)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:7080", "address to serve gRPC on")
	f.StringVar(&db, "db", "", "the run history's SQLite file (default $SOCKLAB_DB, else ~/.local/share/socklab/socklab.db)")
	tok.register(f, "an admin's bearer token; without it and --users, calls need none")
	f.StringVar(&usersFile, "users", "", "the users file: users with their role and token hash, published labs, students' agents (socklab users add)")
	f.StringVar(&inventory, "inventory", "", "the agents labs run on (default: local agents for each run)")
	f.StringVar(&topo, "topology", "local", "where labs run when no inventory names agents: local (agents on loopback addresses of this machine) or netns (a network namespace per host; root)")
	agentTok.register(f, "the agents' token where the inventory gives none")
	f.BoolVar(&insecure, "insecure", false, "allow serving a non-loopback address without a token")
	f.StringVar(&webAddr, "web", "", "also serve each run's page at http://ADDR/runs/RUN (live while it runs), behind the same tokens: a bearer header, or a login form's cookie")
	f.DurationVar(&lease, "lease", 10*time.Second, "agent sessions' lease: if this controller vanishes, agents free a run's sockets after it")
	f.IntVar(&keepRuns, "keep-runs", 0, "keep the newest N runs in the history, deleting older ones at start and as each run is stored (0: no limit)")
	f.IntVar(&keepDays, "keep-days", 0, "delete the runs that started more than D days ago, at start and as each run is stored (0: no limit)")
	f.DurationVar(&budgets.Time, "max-run-time", budgets.Time, "bound on each run's wall time; a lab's own timeout may be shorter (0: none)")
	f.Var(&maxMessage, "max-message", "bound on one message a caller sends, a lab's source with it: bytes, or with KiB, MiB, GiB")
	f.Var(&maxMemory, "max-run-memory", "bound on the memory of the process that runs each lab's Starlark: bytes, or with KiB, MiB, GiB (0: none)")
	f.Uint64Var(&budgets.Steps, "max-run-steps", budgets.Steps, "bound on each run's Starlark steps, its threads and top level together (0: none)")
	f.IntVar(&budgets.Futures, "max-run-futures", budgets.Futures, "bound on the futures (t.go) each run starts (0: none)")
	return cmd
}

// byteSize is a flag's number of bytes: "536870912", "512MiB", "1GiB" (K, M, G and KB,
// MB, GB are binary too).
type byteSize int64

// String shows the size in the largest unit that divides it.
func (b *byteSize) String() string { return runner.Bytes(int64(*b)) }

// Set reads a size.
func (b *byteSize) Set(s string) error {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToUpper(strings.TrimSpace(t[len(num):]))
	shift := map[string]uint{"": 0, "B": 0, "K": 10, "KB": 10, "KIB": 10, "M": 20, "MB": 20, "MIB": 20,
		"G": 30, "GB": 30, "GIB": 30, "T": 40, "TB": 40, "TIB": 40}
	sh, ok := shift[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n < 0 || n > math.MaxInt64>>sh {
		return fmt.Errorf("%q is no size: give bytes, or a number with KiB, MiB or GiB", s)
	}
	*b = byteSize(n << sh)
	return nil
}

// Type names the flag's kind in --help.
func (b *byteSize) Type() string { return "size" }

// defaultMaxMessage bounds one message a controller receives: gRPC's own default.
const defaultMaxMessage = 4 << 20

// dialController connects to a controller ("" token: $SOCKLAB_TOKEN).
func dialController(addr, token string) (*remote.Client, error) {
	c, err := remote.Dial(addr, token)
	if err != nil {
		return nil, usageError{fmt.Errorf("--controller %s: %w", addr, err)}
	}
	return c, nil
}

// remoteRun runs a lab on a controller and shows it on w as a local run would: a lab
// file goes with every file it loads, --pace goes along, and --out writes what a local
// run writes there, from the run the controller streams back.
func remoteRun(cmd *cobra.Command, name string, f runFlags, w report.Writer) error {
	if f.step {
		return usageError{fmt.Errorf("--step needs a local run: a controller's run does not wait for this terminal")}
	}
	req := &socklabv1.RunLabRequest{Lab: name}
	if plugin.IsPlugin(name) {
		return usageError{fmt.Errorf("%s is a lab plugin: a controller runs the plugins installed in its own plugins folder, by name; install it there (socklab controller --plugin-dir) and run it by its file name, or run it here without --controller", name)}
	}
	if strings.HasSuffix(name, ".star") || strings.ContainsRune(name, os.PathSeparator) {
		var err error
		if req, err = sentLab(name); err != nil {
			return exitError{code: exitUsage, msg: err.Error()}
		}
	}
	req.Params, req.Agents = f.params, map[string]string{}
	if f.pace > 0 {
		req.Pace = durationpb.New(f.pace)
	}
	for _, a := range f.agents {
		role, target, _ := strings.Cut(a, "=")
		req.Agents[role] = target
	}
	if f.out != "" {
		if err := os.MkdirAll(f.out, 0o755); err != nil {
			return usageError{fmt.Errorf("--out: %w", err)}
		}
	}
	c, err := dialController(f.controller, f.token)
	if err != nil {
		return err
	}
	defer c.Close()
	errOut := cmd.ErrOrStderr()
	var sink remote.Sink = w
	kept := &keeping{Writer: w}
	if f.out != "" {
		sink = kept
	}
	res, err := c.RunLab(cmd.Context(), req, func(id string) {
		fmt.Fprintf(errOut, "%s on %s (stop it with: socklab cancel %s --controller %s)\n", id, f.controller, id, f.controller)
	}, sink)
	if err != nil {
		return controllerError(f.controller, f.token, err)
	}
	if f.out != "" {
		rec := &transcript.Record{Result: *res, Entries: transcript.Merge(kept.entries)}
		if err := report.WriteDir(f.out, rec, htmlreport.File); err != nil {
			return exitError{code: exitInfra, msg: "--out: " + err.Error()}
		}
	}
	return end(w, res, f.format)
}

// keeping is a remote run's writer that keeps the run's entries, for --out.
type keeping struct {
	report.Writer
	entries []transcript.Entry // in the order they arrived
}

// Entry keeps e and shows it.
func (k *keeping) Entry(e transcript.Entry) {
	k.entries = append(k.entries, e)
	k.Writer.Entry(e)
}

func cancelCommand() *cobra.Command {
	var controller string
	tok := tokenFlag{name: "token", env: envToken}
	cmd := &cobra.Command{
		Use:   "cancel RUN --controller ADDR",
		Short: "Stop a run in progress on a controller (it ends as interrupted, its transcript kept)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if controller == "" {
				return usageError{fmt.Errorf("--controller is required: local runs stop with Ctrl-C")}
			}
			token, err := tok.get(cmd)
			if err != nil {
				return err
			}
			c, err := dialController(controller, token)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.CancelRun(cmd.Context(), args[0]); err != nil {
				return controllerError(controller, token, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cancelled %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&controller, "controller", "", "the socklab controller running it")
	tok.register(cmd.Flags(), "the controller's token")
	return cmd
}
