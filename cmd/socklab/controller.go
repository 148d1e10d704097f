package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/socklab/socklab/agent/client"
	"github.com/socklab/socklab/agent/server"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/service"
	"github.com/socklab/socklab/controller/topology"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

func controllerCommand() *cobra.Command {
	var listen, db, token, inventory, agentToken string
	var insecure bool
	var lease time.Duration
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Serve socklab.v1.ControllerService: run labs for remote command lines, keep the history",
		Long: `Serve socklab.v1.ControllerService. Command lines anywhere run labs on this controller's
agents with "socklab run LAB --controller ADDR" and read its history with
"socklab runs --controller ADDR" and "socklab transcript RUN --controller ADDR".
Without --inventory, labs run on local agents started for each run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if token == "" {
				token = os.Getenv("SOCKLAB_TOKEN")
			}
			if err := server.CheckExposure(listenIP(listen), listen, token, insecure); err != nil {
				return usageError{err}
			}
			var inv *topology.Inventory
			if inventory != "" {
				var err error
				if inv, err = topology.LoadInventory(inventory); err != nil {
					return usageError{err}
				}
			}
			st, err := openStore(db)
			if err != nil {
				return err
			}
			defer st.Close()
			topo := func(agents map[string]string) topology.Topology {
				if inv != nil {
					return inv.Topology(agents, agentToken)
				}
				if len(agents) > 0 {
					return topology.Static{Agents: agents, Token: agentToken}
				}
				return topology.Local{}
			}
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen %s: %w", listen, err)
			}
			gs := grpc.NewServer(server.TokenOptions(token)...)
			socklabv1.RegisterControllerServiceServer(gs, service.New(st, topo, lease).WithInventory(inv, agentToken))
			hs := health.NewServer()
			healthpb.RegisterHealthServer(gs, hs)
			reflection.Register(gs)
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			log.Info("controller serving", "listen", lis.Addr().String(), "inventory", inventory, "token", token != "")
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
	f.StringVar(&token, "token", "", "bearer token every call must carry (default $SOCKLAB_TOKEN)")
	f.StringVar(&inventory, "inventory", "", "the agents labs run on (default: local agents for each run)")
	f.StringVar(&agentToken, "agent-token", "", "the agents' token where the inventory gives none")
	f.BoolVar(&insecure, "insecure", false, "allow serving a non-loopback address without a token")
	f.DurationVar(&lease, "lease", 10*time.Second, "agent sessions' lease: if this controller vanishes, agents free a run's sockets after it")
	return cmd
}

// dialController connects to a controller.
func dialController(addr, token string) (socklabv1.ControllerServiceClient, func() error, error) {
	if token == "" {
		token = os.Getenv("SOCKLAB_TOKEN")
	}
	c, err := client.Dial(addr, token)
	if err != nil {
		return nil, nil, err
	}
	return socklabv1.NewControllerServiceClient(c.Conn()), c.Close, nil
}

// remoteRun runs a lab on a controller and shows it as a local run would.
// Its flags were checked by runLab; color says whether to colour the text.
func remoteRun(cmd *cobra.Command, name string, f runFlags, color bool) error {
	api, closeConn, err := dialController(f.controller, f.token)
	if err != nil {
		return exitError{code: runner.ExitInfra, msg: err.Error()}
	}
	defer closeConn()
	req := &socklabv1.RunLabRequest{Lab: name, Params: f.params, Agents: map[string]string{}}
	if strings.HasSuffix(name, ".star") || strings.ContainsRune(name, os.PathSeparator) {
		src, err := os.ReadFile(name)
		if err != nil {
			return exitError{code: runner.ExitBadLab, msg: err.Error()}
		}
		req.Source, req.FileName = src, filepath.Base(name)
	}
	for _, a := range f.agents {
		role, target, _ := strings.Cut(a, "=")
		req.Agents[role] = target
	}
	stream, err := api.RunLab(cmd.Context(), req)
	if err != nil {
		return exitError{code: runner.ExitInfra, msg: err.Error()}
	}
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	return showStream(out, color, f.format, func() (*socklabv1.RunStarted, *socklabv1.Event, *socklabv1.RunFinished, error) {
		m, err := stream.Recv()
		if id := m.GetStarted().GetRunId(); id != "" {
			fmt.Fprintf(errOut, "%s on %s (stop it with: socklab cancel %s --controller %s)\n", id, f.controller, id, f.controller)
		}
		return m.GetStarted(), m.GetEvent(), m.GetFinished(), err
	})
}

// showStream renders a controller's stream of a run (live or stored) as a local run
// prints, and returns the run's exit code as an error.
func showStream(out io.Writer, color bool, format string, next func() (*socklabv1.RunStarted, *socklabv1.Event, *socklabv1.RunFinished, error)) error {
	text := report.NewText(out, report.TextOptions{Color: color})
	j := report.NewJSONL(out)
	addrs := map[string]string{}
	descriptions := map[string]string{}
	for {
		started, ev, finished, err := next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return exitError{code: runner.ExitInfra, msg: "the controller ended the stream before the run's result"}
			}
			code := runner.ExitInfra
			if status.Code(err) == codes.InvalidArgument {
				code = runner.ExitBadLab // the lab itself is wrong: file:line:col from the controller
			}
			if status.Code(err) == codes.Canceled {
				code = runner.ExitInterrupted
			}
			return exitError{code: code, msg: status.Convert(err).Message()}
		}
		switch {
		case started != nil:
			var hosts []report.Host
			for _, h := range started.GetHosts() {
				addrs[h.GetRole()] = h.GetAddress()
				hosts = append(hosts, report.Host{Role: h.GetRole(), Address: h.GetAddress()})
			}
			for _, c := range started.GetChecks() {
				descriptions[c.GetId()] = c.GetDescription()
			}
			if format == "text" && len(hosts) > 0 {
				sortHosts(hosts)
				text.Header(started.GetLab(), started.GetSummary(), hosts)
			}
		case ev != nil:
			if format == "jsonl" {
				j.Entry(report.EventEntry(ev, addrs))
			} else {
				text.Entry(report.EventEntry(ev, addrs))
			}
		case finished != nil:
			var res runner.ResultFile
			if err := json.Unmarshal([]byte(finished.GetResultJson()), &res); err != nil {
				return exitError{code: runner.ExitInfra, msg: "result: " + err.Error()}
			}
			if format == "text" {
				checks := checksOf(res.Checks)
				for i := range checks {
					checks[i].Description = descriptions[checks[i].ID]
				}
				if len(res.Hosts) > 0 {
					text.Checks(checks)
				}
				text.Footer(res.Verdict, res.Error)
			}
			if res.ExitCode != 0 {
				msg := ""
				if format != "text" {
					msg = res.Error
				}
				return exitError{code: res.ExitCode, msg: msg}
			}
			return nil
		}
	}
}

func cancelCommand() *cobra.Command {
	var controller, token string
	cmd := &cobra.Command{
		Use:   "cancel RUN --controller ADDR",
		Short: "Stop a run in progress on a controller (it ends as interrupted, its transcript kept)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if controller == "" {
				return usageError{fmt.Errorf("--controller is required: local runs stop with Ctrl-C")}
			}
			api, closeConn, err := dialController(controller, token)
			if err != nil {
				return err
			}
			defer closeConn()
			if _, err := api.CancelRun(cmd.Context(), &socklabv1.CancelRunRequest{RunId: args[0]}); err != nil {
				code := runner.ExitInfra
				if status.Code(err) == codes.NotFound {
					code = runner.ExitBadLab
				}
				return exitError{code: code, msg: status.Convert(err).Message()}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cancelled %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&controller, "controller", "", "the socklab controller running it")
	cmd.Flags().StringVar(&token, "token", "", "the controller's token (default $SOCKLAB_TOKEN)")
	return cmd
}
