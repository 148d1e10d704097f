package topology

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Docker runs one container per lab host on a private Docker network made for the run,
// with socklab's agent inside each container, through the Docker Engine API (the engine
// DOCKER_HOST names, else the local one). The containers run an image built here, FROM
// scratch, holding the socklab binary and this host's python3 (see BuildImage): nothing
// is pulled.
//
// Each run gets an internal bridge network of its own, 10.R.S.0/24 with R and S chosen
// at random (one no route of this host and no other Docker network uses), and each host
// the address 10.R.S.N (N = 2, 3, ...), where its agent listens on port 7070 with a
// token made for the run. This process reaches the agents over the run's bridge, so the
// engine must run on this machine. Being internal, the network takes nothing out:
// whatever a host sends elsewhere is dropped on the run's bridge. The network, its
// containers and their labels name the run's owner (this process, see Owner), so that
// CleanDocker removes what a run that died left.
//
// A container runs as root with every capability dropped but those its agent needs to
// run programs as contained jobs (see dockerCaps): SYS_ADMIN among them, for the jobs'
// namespaces; never privileged. Its root filesystem is read-only but for /tmp and /run,
// it gains no privilege through exec, and its memory (1 GiB, no swap) and processes
// (1024) are limited, which bounds its jobs together.
type Docker struct {
	// Binary is the socklab binary to run as the agent in the containers; "" is
	// os.Executable().
	Binary string
	// Programs are the programs the agents may start (their --allow-exec); none when
	// empty.
	Programs []string
}

var _ Topology = Docker{}

// What a Docker run's containers get.
const (
	// dockerAgentPort is the port each container's agent listens on.
	dockerAgentPort = 7070
	// dockerReady bounds the wait for every agent of a run to answer.
	dockerReady = 20 * time.Second
	// dockerCleanup bounds the removal of a run's containers and network.
	dockerCleanup = time.Minute
	// dockerMemory is a container's memory limit (its jobs' and its agent's), with no
	// swap beyond it.
	dockerMemory = 1 << 30
	// dockerPids bounds the processes and threads of a container.
	dockerPids = 1024
	// dockerMaxHosts is the most hosts one run's /24 holds (.2 to .254).
	dockerMaxHosts = 253
)

// Labels of what a Docker run makes.
const (
	// LabelOwner names the owner (Owner.String) of a run's network and containers.
	LabelOwner = "socklab.owner"
	// LabelRun names the run a network or container belongs to.
	LabelRun = "socklab.run"
	// LabelRole names the lab host a container runs.
	LabelRole = "socklab.role"
)

// dockerCaps are the capabilities a container keeps, each measured as needed by its
// agent to run a program as a job (agent/process) and watch it: SYS_ADMIN makes the
// job's pid and mount namespaces and mounts its /proc (Docker's seccomp profile allows
// those calls only with it); SETUID and SETGID drop to the job's uid and group; CHOWN
// gives the session's directory to the session's group, and FSETID keeps that
// directory's setgid bit, the agent not being in the group; KILL ends the job;
// DAC_OVERRIDE reads and cleans what the job wrote; SYS_PTRACE reads the job's
// /proc/PID/fd (which sockets are its own, for wait_listening); SYS_NICE moves the init
// the agent keeps ready at idle priority back to the usual one before the job's program
// runs (without it the program runs at SCHED_IDLE); NET_ADMIN sets the link faults a lab
// asks for in the container's own network namespace (netfilter rules, a packet queue, a
// qdisc). Docker's others (NET_RAW, MKNOD,
// AUDIT_WRITE, SETFCAP, SETPCAP, SYS_CHROOT, FOWNER, NET_BIND_SERVICE: the agent's
// policy binds no port below 1024) go. A job's program, under a uid of its own, has none.
var dockerCaps = []string{"CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_FSETID", "CAP_KILL",
	"CAP_DAC_OVERRIDE", "CAP_SYS_PTRACE", "CAP_SYS_NICE", "CAP_NET_ADMIN"}

// roleName is what a role must look like to name a container.
var roleName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Start builds the agent image if the engine lacks it, makes the run's network, starts
// one container per role on it and returns once every agent answers. On failure it
// removes whatever it made.
func (d Docker) Start(ctx context.Context, roles []string) (_ Pool, err error) {
	if len(roles) > dockerMaxHosts {
		return nil, fmt.Errorf("docker topology: %d hosts is more than %d", len(roles), dockerMaxHosts)
	}
	for _, r := range roles {
		if !roleName.MatchString(r) {
			return nil, fmt.Errorf("docker topology: host %q: a container's name takes letters, digits, '_', '.' and '-' only", r)
		}
	}
	owner, err := Self()
	if err != nil {
		return nil, fmt.Errorf("docker topology: %w", err)
	}
	cli, err := dockerClient(ctx)
	if err != nil {
		return nil, err
	}
	tag, err := d.buildImage(ctx, cli, nil)
	if err != nil {
		cli.Close()
		return nil, err
	}
	run, err := randomHex(4)
	if err != nil {
		cli.Close()
		return nil, err
	}
	token, err := randomHex(16)
	if err != nil {
		cli.Close()
		return nil, err
	}
	p := &dockerPool{cli: cli, run: run, name: "socklab-" + owner.String() + "-" + run}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	labels := map[string]string{LabelOwner: owner.String(), LabelRun: run}
	// What the engine makes, it makes whole even when ctx ends meanwhile, so that Close
	// knows it and removes it: a request cancelled half-way could still make a container.
	mk, cancelMk := context.WithTimeout(context.WithoutCancel(ctx), dockerCleanup)
	defer cancelMk()
	subnet, err := p.makeNetwork(mk, labels)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("docker topology: start: %w", err)
	}
	base := subnet.Addr().As4()
	p.hosts = make([]Host, len(roles))
	p.containers = make([]string, len(roles))
	for i, role := range roles {
		ip := netip.AddrFrom4([4]byte{base[0], base[1], base[2], byte(2 + i)})
		p.hosts[i] = Host{Role: role, IP: ip, Target: netip.AddrPortFrom(ip, dockerAgentPort).String(), Token: token}
	}
	// The containers start together: each start costs the engine about a second.
	errs := make([]error, len(roles))
	var wg sync.WaitGroup
	for i := range roles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.containers[i], errs[i] = d.startContainer(ctx, mk, cli, tag, p.name, p.hosts[i], labels)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("docker topology: start: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ready, cancel := context.WithTimeout(ctx, dockerReady)
	defer cancel()
	for i := range roles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.waitAgent(ready, i)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("docker topology: start: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// dockerClient connects to the engine DOCKER_HOST names (else the local one) and checks
// that it answers.
func dockerClient(ctx context.Context) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		host := cli.DaemonHost()
		cli.Close()
		return nil, &noEngineError{host: host, err: err}
	}
	return cli, nil
}

// noEngineError is no Docker engine answering.
type noEngineError struct {
	host string
	err  error
}

func (e *noEngineError) Error() string {
	return "docker: no engine at " + e.host + ": " + e.err.Error()
}

func (e *noEngineError) Unwrap() error { return e.err }

// NoEngine reports whether err, from Docker's Start or BuildImage or from CleanDocker,
// is that no Docker engine answers where DOCKER_HOST (else the default socket) says,
// rather than a failure of an engine's.
func NoEngine(err error) bool {
	var e *noEngineError
	return errors.As(err, &e)
}

// makeNetwork makes the run's bridge network on a free 10.R.S.0/24 and returns that
// subnet.
func (p *dockerPool) makeNetwork(ctx context.Context, labels map[string]string) (netip.Prefix, error) {
	used := hostRoutes()
	nets, err := p.cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("docker topology: list networks: %w", err)
	}
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if pfx, err := netip.ParsePrefix(c.Subnet); err == nil {
				used = append(used, pfx)
			}
		}
	}
	var last error
	for range 16 {
		subnet, err := freeSubnet(used)
		if err != nil {
			return netip.Prefix{}, err
		}
		gw := subnet.Addr().Next()
		resp, err := p.cli.NetworkCreate(ctx, p.name, network.CreateOptions{
			Driver:   "bridge",
			Internal: true,
			IPAM:     &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{Subnet: subnet.String(), Gateway: gw.String()}}},
			Labels:   labels,
		})
		if err == nil {
			p.network = resp.ID
			return subnet, nil
		}
		if !strings.Contains(err.Error(), "overlap") {
			return netip.Prefix{}, fmt.Errorf("docker topology: make network %s on %s: %w", p.name, subnet, err)
		}
		used, last = append(used, subnet), err // taken a moment ago by another run
	}
	return netip.Prefix{}, fmt.Errorf("docker topology: make network %s: no free 10.R.S.0/24 after 16 tries: %w", p.name, last)
}

// freeSubnet picks a 10.R.S.0/24 at random that overlaps none of used.
func freeSubnet(used []netip.Prefix) (netip.Prefix, error) {
	for range 256 {
		r, err := rand.Int(rand.Reader, big.NewInt(256*256))
		if err != nil {
			return netip.Prefix{}, err
		}
		n := r.Int64()
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n / 256), byte(n % 256), 0}), 24)
		free := true
		for _, u := range used {
			free = free && !u.Overlaps(pfx)
		}
		if free {
			return pfx, nil
		}
	}
	return netip.Prefix{}, errors.New("docker topology: no free 10.R.S.0/24: every one tried overlaps a route or a network")
}

// hostRoutes returns the IPv4 destinations this host routes (/proc/net/route), but the
// default route: a run's network must not hide a network the host reaches.
func hostRoutes() []netip.Prefix {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		dst, err1 := hex.DecodeString(f[1])
		mask, err2 := hex.DecodeString(f[7])
		if err1 != nil || err2 != nil || len(dst) != 4 || len(mask) != 4 {
			continue
		}
		// Little-endian words: 0100000A is 10.0.0.1.
		ip := netip.AddrFrom4([4]byte{dst[3], dst[2], dst[1], dst[0]})
		bits := 0
		for _, m := range mask {
			for ; m != 0; m &= m - 1 {
				bits++
			}
		}
		if bits > 0 {
			out = append(out, netip.PrefixFrom(ip, bits).Masked())
		}
	}
	return out
}

// startContainer creates and starts the container of host h on the run's network. The
// engine's calls run under mk, which outlives ctx, so that a container is never made
// without its ID coming back; once ctx has ended, no call begins.
func (d Docker) startContainer(ctx, mk context.Context, cli *client.Client, tag, run string, h Host, labels map[string]string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("docker topology: start: %w", err)
	}
	name := run + "-" + h.Role
	run24 := netip.PrefixFrom(h.IP, 24).Masked() // the run's network (see makeNetwork)
	l := map[string]string{LabelRole: h.Role}
	for k, v := range labels {
		l[k] = v
	}
	cmd := []string{agentPath, "agent", "--listen", fmt.Sprintf("0.0.0.0:%d", dockerAgentPort),
		"--host-ip", h.IP.String(), "--name", h.Role, "--allow-faults", "--allow-bind", "0.0.0.0/0,::/0",
		// Its own loopback, the run's network and its broadcast addresses.
		"--allow-net", fmt.Sprintf("127.0.0.0/8,::1/128,%s,%s,255.255.255.255", run24, broadcastOf(run24))}
	for _, prog := range d.Programs {
		cmd = append(cmd, "--allow-exec", prog)
	}
	pids := int64(dockerPids)
	resp, err := cli.ContainerCreate(mk,
		&container.Config{
			Image: tag, Cmd: cmd, Hostname: h.Role, Labels: l,
			// The token goes in the environment, which only root reads in /proc, rather
			// than on the command line, which anyone does.
			Env: []string{"SOCKLAB_TOKEN=" + h.Token},
		},
		&container.HostConfig{
			NetworkMode:    container.NetworkMode(run),
			CapDrop:        []string{"ALL"},
			CapAdd:         dockerCaps,
			SecurityOpt:    []string{"no-new-privileges"},
			ReadonlyRootfs: true,
			Tmpfs: map[string]string{
				"/tmp": "rw,exec,nosuid,nodev,size=256m,mode=1777",
				"/run": "rw,noexec,nosuid,nodev,size=1m,mode=755",
			},
			Resources: container.Resources{
				Memory: dockerMemory, MemorySwap: dockerMemory, PidsLimit: &pids,
			},
			// Docker turns IPv6 off in a container; a lab host has ::1 on its loopback, as
			// on every other topology (the run's network stays IPv4).
			Sysctls: map[string]string{"net.ipv6.conf.lo.disable_ipv6": "0"},
		},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			run: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: h.IP.String()}},
		}},
		nil, name)
	if err != nil {
		return "", fmt.Errorf("docker topology: create container %s for host %s: %w", name, h.Role, err)
	}
	if err := ctx.Err(); err != nil {
		return resp.ID, fmt.Errorf("docker topology: start: %w", err)
	}
	if err := cli.ContainerStart(mk, resp.ID, container.StartOptions{}); err != nil {
		return resp.ID, fmt.Errorf("docker topology: start container %s for host %s: %w", name, h.Role, err)
	}
	return resp.ID, nil
}

// waitAgent waits until the agent of host i answers as that host, or its container
// stops, or ctx ends; its failure names the host and quotes the container's last log
// lines.
func (p *dockerPool) waitAgent(ctx context.Context, i int) error {
	h, id := p.hosts[i], p.containers[i]
	var last error
	var checked time.Time
	for {
		// Each try is short: once a container has stopped, its address answers nothing
		// and a try would wait out its whole timeout.
		try, cancel := context.WithTimeout(ctx, time.Second)
		_, _, host, err := describe(try, h.Target, h.Token)
		cancel()
		if err == nil {
			if host != h.IP.String() {
				return fmt.Errorf("docker topology: the agent of host %s reports host address %s, not %s", h.Role, host, h.IP)
			}
			return nil
		}
		last = err
		if time.Since(checked) > 250*time.Millisecond {
			checked = time.Now()
			st, err := p.cli.ContainerInspect(ctx, id)
			if err == nil && st.State != nil && !st.State.Running {
				return fmt.Errorf("docker topology: the agent of host %s exited (%s, code %d) before it answered%s",
					h.Role, st.State.Status, st.State.ExitCode, p.logTail(id))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("docker topology: the agent of host %s at %s did not answer within %s: %w%s",
				h.Role, h.Target, dockerReady, last, p.logTail(id))
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// logTail returns the last lines a container wrote, as the end of an error message.
func (p *dockerPool) logTail(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := p.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "20"})
	if err != nil {
		return "; its log: " + err.Error()
	}
	defer r.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, io.LimitReader(r, 64<<10)); err != nil && out.Len() == 0 {
		return "; its log: " + err.Error()
	}
	s := strings.TrimSpace(out.String())
	if s == "" {
		return "; its log is empty"
	}
	return "; its last log lines:\n" + s
}

// dockerPool is one run's network and containers.
type dockerPool struct {
	cli        *client.Client
	run        string // the run's random part
	name       string // the network's name; each container's, with its role
	network    string // the network's ID, once made
	hosts      []Host
	containers []string // IDs, in hosts' order; "" where none was made

	closeOnce sync.Once
	closeErr  error
}

func (p *dockerPool) Hosts() []Host { return p.hosts }

// Close removes the run's containers (killing them) and its network, and waits until
// the engine has; it also removes any container or network labelled with the run that
// an interrupted Start left unnamed. Later calls return the first one's result.
func (p *dockerPool) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.remove() })
	return p.closeErr
}

func (p *dockerPool) remove() error {
	defer p.cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dockerCleanup)
	defer cancel()
	byRun := filters.NewArgs(filters.Arg("label", LabelRun+"="+p.run))
	ids := map[string]bool{}
	for _, id := range p.containers {
		if id != "" {
			ids[id] = true
		}
	}
	var errs []error
	found, err := p.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: byRun})
	if err != nil {
		errs = append(errs, fmt.Errorf("docker topology: list the containers of run %s: %w", p.name, err))
	}
	for _, c := range found {
		ids[c.ID] = true
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := removeContainer(ctx, p.cli, id); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	nets := map[string]bool{}
	if p.network != "" {
		nets[p.network] = true
	}
	if found, err := p.cli.NetworkList(ctx, network.ListOptions{Filters: byRun}); err == nil {
		for _, n := range found {
			nets[n.ID] = true
		}
	} else {
		errs = append(errs, fmt.Errorf("docker topology: list the networks of run %s: %w", p.name, err))
	}
	for id := range nets {
		if err := p.cli.NetworkRemove(ctx, id); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("docker topology: remove network %s: %w", p.name, err))
		}
	}
	return errors.Join(errs...)
}

// removeContainer kills and removes a container; one already gone is no error.
func removeContainer(ctx context.Context, cli *client.Client, id string) error {
	err := cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !client.IsErrNotFound(err) && !strings.Contains(err.Error(), "is already in progress") {
		return fmt.Errorf("docker topology: remove container %.12s: %w", id, err)
	}
	return nil
}

// inode returns a file's inode number, or 0.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
