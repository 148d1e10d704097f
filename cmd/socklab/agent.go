package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/agent/policy"
	"github.com/socklab/socklab/agent/server"
)

func agentCommand() *cobra.Command {
	var (
		listen, token, hostIP, name, ports string
		allowNets                          []string
		insecure                           bool
		maxSockets, maxSessions            int
		maxPerClient, maxAgentSockets      int
		maxBytes                           int
		allowExec                          []string
		allowFaults                        bool
		allowBinds                         []string
	)
	def := policy.Default()
	tok := tokenFlag{name: "token", env: envToken}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Serve socklab.v1.AgentService: real sockets on this host, on command",
		Long: `Serve socklab.v1.AgentService over gRPC. A controller (or any gRPC client) opens a
session and drives real sockets on this host exactly as Python's socket module would, and
gets every operation back as an event.

Every call but the standard health service needs the token, sent as gRPC metadata
"authorization: Bearer TOKEN". The agent refuses to listen on a non-loopback address
without a token unless --insecure is given.`,
		Example: `  socklab agent --listen 127.0.0.1:7070 --token-file ~/.config/socklab/token
  SOCKLAB_TOKEN=T socklab agent --listen 0.0.0.0:7070 --host-ip 10.0.0.11`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if token, err = tok.get(cmd); err != nil {
				return err
			}
			pol := def
			pol.MaxSockets, pol.MaxSessions, pol.MaxBytesPerOp = maxSockets, maxSessions, maxBytes
			pol.MaxSessionsPerClient, pol.MaxAgentSockets = maxPerClient, maxAgentSockets
			pol.Programs = allowExec
			pol.Faults = allowFaults
			if pol.Ports, err = policy.ParsePortRanges(ports); err != nil {
				return usageError{fmt.Errorf("--bind-ports: %w", err)}
			}
			if len(allowNets) > 0 {
				if pol.Networks, err = policy.ParseNetworks(allowNets); err != nil {
					return usageError{fmt.Errorf("--allow-net: %w", err)}
				}
			}
			if len(allowBinds) > 0 {
				more, err := policy.ParseNetworks(allowBinds)
				if err != nil {
					return usageError{fmt.Errorf("--allow-bind: %w", err)}
				}
				pol.Binds = append(pol.Binds, more...)
			}
			var host netip.Addr
			if hostIP != "" {
				if host, err = netip.ParseAddr(hostIP); err != nil || !host.Is4() {
					return usageError{fmt.Errorf("--host-ip %q: want an IPv4 address of this host", hostIP)}
				}
			}
			if name == "" {
				name, _ = os.Hostname()
			}
			if err := server.CheckExposure(listenIP(listen), listen, token, insecure); err != nil {
				return usageError{err} // refused before anything listens
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen %s: %w", listen, err)
			}
			a, err := server.New(lis, server.Config{Name: name, HostIP: host, Token: token, Insecure: insecure, Policy: pol, Log: log})
			if err != nil {
				lis.Close()
				return usageError{err}
			}
			_, files := a.Sessions.Files()
			log.Info("agent serving", "listen", a.Addr().String(), "name", name, "host_ip", a.Sessions.HostIP().String(),
				"token", token != "", "allow_net", pol.NetworksString(), "allow_bind", pol.BindsString(a.Sessions.HostIP()), "bind_ports", pol.PortsString(), "max_files", files)
			return a.Serve(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:7070", "address to serve gRPC on")
	tok.register(f, "the bearer token every call must carry")
	f.StringVar(&hostIP, "host-ip", "", "this host's address, bound by sockets before they connect or send (default: the listen address)")
	f.StringVar(&name, "name", "", "the agent's name (default: the host name)")
	f.BoolVar(&insecure, "insecure", false, "allow serving a non-loopback address without a token")
	f.BoolVar(&allowFaults, "allow-faults", false, "let labs make this host's links fail (delay, loss, cuts: netfilter rules and a qdisc in its network namespace); only for an agent in a network namespace or container of its own")
	f.StringSliceVar(&allowExec, "allow-exec", nil, "programs labs may start here (host.spawn): names such as python3,cc or absolute paths, repeatable; \"*\" allows any (default: none)")
	f.StringSliceVar(&allowNets, "allow-net", nil, "networks connect/sendto may reach, CIDR, repeatable (default: loopback and this host's subnets)")
	f.StringSliceVar(&allowBinds, "allow-bind", nil, "addresses bind may take besides this host's address and loopback, CIDR or address, repeatable; 0.0.0.0 or :: lets a socket listen on every interface")
	f.StringVar(&ports, "bind-ports", def.PortsString(), "ports bind may take (port 0 is always allowed)")
	f.IntVar(&maxSockets, "max-sockets", def.MaxSockets, "sockets one session may hold open")
	f.IntVar(&maxSessions, "max-sessions", def.MaxSessions, "sessions open at once")
	f.IntVar(&maxPerClient, "max-sessions-per-client", def.MaxSessionsPerClient, "sessions one client address may hold open at once (0: no bound but --max-sessions)")
	f.IntVar(&maxAgentSockets, "max-agent-sockets", 0, "sockets (and programs' pipes) all sessions may hold together (default: the open-file limit less an eighth, at least 256, kept for the agent)")
	f.IntVar(&maxBytes, "max-bytes", def.MaxBytesPerOp, "bytes one send or recv may move")
	return cmd
}

// listenIP returns the IP a listen address names: a literal, loopback for "localhost",
// and no address (not loopback) for an empty host or any other name.
func listenIP(listen string) netip.Addr {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return netip.Addr{}
	}
	if host == "localhost" {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	ip, _ := netip.ParseAddr(host)
	return ip.Unmap()
}
