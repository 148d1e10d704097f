// Package plugin runs lab plugins: labs written as programs of their own (in Go with the
// SDK in labs/plugins/lab, or in any language that speaks gRPC), started through
// hashicorp/go-plugin in its gRPC mode with automatic mutual TLS. A plugin serves
// socklab.plugin.v1.LabService; for each run the controller serves it LabHostService
// through go-plugin's broker, and performs each operation the plugin asks for on the
// run's agent sessions (runner.Env), so that a plugin lab records the transcript a
// Starlark lab would.
//
// A plugin runs contained, as an agent's job does (agent/process): its own pid and
// mount namespaces, its own uid and cgroups as root, rlimits, a clean environment and a
// private working directory, from a private copy of its executable (checked against its
// SHA-256 pin, if it has one). Its init dies with the controller (a parent-death
// signal), and the plugin with it. A plugin that crashes, hangs or speaks no socklab
// fails its run with a clear error; the controller goes on.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/socklab/socklab/controller/crash"
	socklabrunner "github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/transcript"
	pluginv1 "github.com/socklab/socklab/proto/socklab/plugin/v1"
)

// Options tune how a plugin is started and watched.
type Options struct {
	// Checksum is the SHA-256 the plugin's executable must have; nil checks nothing.
	Checksum []byte
	// FilesDir is the directory the plugin's ReadFiles reads (socklab run --files, a
	// submission's folder); "" gives it none.
	FilesDir string
	// StartTimeout bounds the plugin's start and handshake; 0 is 10 s.
	StartTimeout time.Duration
	// DescribeTimeout bounds its answer to Describe; 0 is 10 s.
	DescribeTimeout time.Duration
	// Idle is the hang watchdog: a running plugin that asks for nothing for this long,
	// with none of its calls in progress, is taken for hung and killed; 0 is 60 s.
	Idle time.Duration
}

func (o Options) withDefaults() Options {
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.DescribeTimeout <= 0 {
		o.DescribeTimeout = 10 * time.Second
	}
	if o.Idle <= 0 {
		o.Idle = 60 * time.Second
	}
	return o
}

// Handshake is the go-plugin handshake the controller expects of lab plugins.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  pluginv1.ProtocolVersion,
	MagicCookieKey:   pluginv1.MagicCookieKey,
	MagicCookieValue: pluginv1.MagicCookieValue,
}

// defaultWatchdog bounds a blocking operation of a lab that declares no watchdog, as a
// Starlark lab's default does.
const defaultWatchdog = 5 * time.Second

// killGrace is how long a plugin told to stop (its run's stream cancelled) has before it
// is killed.
const killGrace = 2 * time.Second

// Lab is a lab plugin started and described, as a runner.Lab. It runs once; Close ends
// its process and frees what contains it.
type Lab struct {
	path   string
	spec   *pluginv1.LabSpec
	info   socklabrunner.Info
	opts   Options
	box    *box
	runner *jobRunner
	client *goplugin.Client
	lab    *labClient
	close  sync.Once
}

var _ socklabrunner.Lab = (*Lab)(nil)

// Load starts the plugin at path, contained, completes its handshake and asks it to
// describe its lab. A plugin that is not a valid lab (no handshake, another protocol or
// version, no answer to Describe, a declaration that does not hold) is a
// *socklabrunner.LabError; one that crashes is a *CrashError; a wrong checksum a
// *ChecksumError. On an error the plugin's process has ended.
func Load(ctx context.Context, path string, opts Options) (_ *Lab, err error) {
	opts = opts.withDefaults()
	name := path
	if st, err := os.Stat(path); err != nil {
		return nil, &socklabrunner.LabError{Pos: name, Msg: "no lab plugin here: " + errText(err)}
	} else if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return nil, &socklabrunner.LabError{Pos: name, Msg: "not an executable file: build the plugin with go build (or chmod +x it)"}
	}
	b, err := newBox(path, opts.Checksum)
	if err != nil {
		return nil, err
	}
	l := &Lab{path: path, opts: opts, box: b}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	l.client = goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{pluginv1.ProtocolVersion: {pluginv1.PluginName: hostPlugin{}}},
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, socketDir string) (runner.Runner, error) {
			l.runner = b.newJobRunner(cmd.Env, socketDir)
			return l.runner, nil
		},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     opts.StartTimeout,
		UnixSocketConfig: b.socketConfig(),
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off}),
	})
	rpc, err := l.client.Client()
	if err != nil {
		return nil, l.startError(err)
	}
	raw, err := rpc.Dispense(pluginv1.PluginName)
	if err != nil {
		return nil, l.startError(err)
	}
	l.lab = raw.(*labClient)
	dctx, cancel := context.WithTimeout(ctx, opts.DescribeTimeout)
	defer cancel()
	resp, err := l.lab.service.Describe(dctx, &pluginv1.DescribeRequest{})
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, context.Cause(ctx)
	case err != nil && (dctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded):
		return nil, &socklabrunner.LabError{Pos: name, Msg: fmt.Sprintf("the plugin did not answer Describe within %s: is it a socklab lab plugin?", opts.DescribeTimeout)}
	case err != nil:
		return nil, l.crash("Describe", err)
	}
	if err := validate(resp.GetLab()); err != nil {
		return nil, &socklabrunner.LabError{Pos: name, Msg: "its lab does not hold: " + err.Error()}
	}
	l.spec = resp.GetLab()
	l.info = infoOf(l.spec)
	return l, nil
}

// connected is a Lab of a plugin served elsewhere (in the test's own process, through
// plugin.TestPluginGRPCConn): Describe asked, no process of its own.
func connected(ctx context.Context, c *labClient, opts Options) (*Lab, error) {
	resp, err := c.service.Describe(ctx, &pluginv1.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("describe: %s", grpcText(err))
	}
	if err := validate(resp.GetLab()); err != nil {
		return nil, err
	}
	return &Lab{lab: c, opts: opts.withDefaults(), spec: resp.GetLab(), info: infoOf(resp.GetLab()), box: &box{stderr: crash.NewTail(1)}}, nil
}

// Spec returns the lab's declaration, as the plugin described it.
func (l *Lab) Spec() *pluginv1.LabSpec { return l.spec }

// Info describes the lab.
func (l *Lab) Info() socklabrunner.Info { return l.info }

// Watchdog is the lab's bound on each blocking operation.
func (l *Lab) Watchdog() time.Duration {
	if s := l.spec.GetWatchdogSeconds(); s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	return defaultWatchdog
}

// Close ends the plugin's process if it still runs, waits for it, and removes what
// contained it. It returns nil.
func (l *Lab) Close() error {
	l.close.Do(func() {
		if l.client != nil {
			l.client.Kill()
		}
		if l.runner != nil {
			l.runner.close()
		}
		l.box.close()
	})
	return nil
}

// startError says why a plugin's start or handshake failed, in socklab's terms: go-plugin's
// own messages name neither the fix nor the versions in socklab's words.
func (l *Lab) startError(err error) error {
	name, msg := l.box.name, err.Error()
	said := l.box.stderr.Last()
	if l.runner != nil && l.runner.job != nil {
		select { // a plugin that exited before its handshake has said why by now
		case <-l.runner.job.Done():
		case <-time.After(time.Second):
		}
		said = l.box.stderr.Last()
	}
	bad := func(format string, args ...any) error {
		return &socklabrunner.LabError{Pos: name, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		line := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(msg, "\n", 2)[0], "Unrecognized remote plugin message:"))
		if line == "" {
			if l.box.stderr.Crashed() {
				return &CrashError{Msg: fmt.Sprintf("%s crashed before its handshake: %s", name, said)}
			}
			if said != "" {
				return bad("not a socklab lab plugin: it ended before its handshake, saying %q", said)
			}
			return bad("not a socklab lab plugin: it ended before its handshake, saying nothing")
		}
		return bad("not a socklab lab plugin: its first line of output was %q, where the go-plugin handshake (1|%d|unix|...|grpc|...) was expected", clip(line, 120), pluginv1.ProtocolVersion)
	case strings.Contains(msg, "incompatible API version"):
		theirs := "another version"
		if m := regexp.MustCompile(`Plugin version: (\d+)`).FindStringSubmatch(msg); m != nil {
			theirs = "version " + m[1]
		}
		return bad("the plugin speaks lab plugin protocol %s; this socklab speaks version %d: rebuild the plugin with this socklab's SDK (labs/plugins/lab), or use a socklab that speaks its version", theirs, pluginv1.ProtocolVersion)
	case strings.Contains(msg, "incompatible core API version"):
		return bad("the plugin speaks another go-plugin core protocol than 1: rebuild it with hashicorp/go-plugin v1.x")
	case strings.Contains(msg, "unsupported plugin protocol"):
		return bad("the plugin serves go-plugin's net/rpc protocol; socklab speaks its gRPC protocol only (AllowedProtocols: grpc)")
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return bad("the plugin gave no handshake within %s", l.opts.StartTimeout)
	case strings.Contains(msg, "plugin exited before we could connect"):
		if l.box.stderr.Crashed() {
			return &CrashError{Msg: fmt.Sprintf("%s crashed before its handshake: %s", name, said)}
		}
		if said != "" {
			return bad("the plugin exited before its handshake, saying %q", clip(said, 200))
		}
		return bad("the plugin exited before its handshake, saying nothing")
	case strings.Contains(msg, "start the plugin"):
		return &CrashError{Msg: fmt.Sprintf("%s: %s", name, msg)}
	}
	return bad("the plugin's handshake failed: %s", firstLine(msg))
}

// crash is the error of a plugin that failed call, or whose process ended.
func (l *Lab) crash(call string, err error) error {
	how := ""
	if l.runner != nil && l.runner.job != nil {
		select {
		case <-l.runner.job.Done():
			exit, _ := l.runner.job.Wait(context.Background())
			how = " (" + exit.String() + ")"
		case <-time.After(killGrace):
		}
	}
	said := l.box.stderr.Last()
	if how != "" {
		msg := fmt.Sprintf("the lab plugin exited during %s%s", call, how)
		if said != "" {
			msg += ": " + said
		}
		return &CrashError{Msg: msg}
	}
	return &CrashError{Msg: fmt.Sprintf("the lab plugin's %s failed: %s", call, grpcText(err))}
}

// CrashError is a lab plugin that crashed, exited or hung: the run ends as a failure of
// the controller's side (exit code 3), not of the lab's checks.
type CrashError struct {
	// Msg says what happened.
	Msg string
}

// Error returns the message.
func (e *CrashError) Error() string { return e.Msg }

// Environment marks the error as the run's machinery's, not the lab's: the run's exit
// code is 3.
func (e *CrashError) Environment() bool { return true }

// ChecksumError is a plugin whose executable does not have the SHA-256 its pin says.
type ChecksumError struct {
	// Path is the plugin.
	Path string
	// Got and Want are the executable's SHA-256 and the pin's, in hex.
	Got, Want string
}

// Error names both checksums.
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s: its SHA-256 is %s, but its pin says %s: the file changed since it was pinned: reinstall the plugin you meant, or pin this one (sha256sum NAME > NAME.sha256)", e.Path, e.Got, e.Want)
}

// hostPlugin is the controller's side of go-plugin's lab plugin: a LabService client.
type hostPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
}

// GRPCServer is the plugin's side, which the controller does not serve.
func (hostPlugin) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the controller serves no lab: plugins do")
}

// GRPCClient returns the client of the plugin's LabService, with the broker through which
// the controller serves it LabHostService.
func (hostPlugin) GRPCClient(_ context.Context, broker *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &labClient{service: pluginv1.NewLabServiceClient(conn), broker: broker}, nil
}

// labClient is a plugin's LabService and the broker of its connection.
type labClient struct {
	service pluginv1.LabServiceClient
	broker  *goplugin.GRPCBroker
}

// validate checks a plugin's declaration as lab() checks a Starlark lab's.
func validate(s *pluginv1.LabSpec) error {
	if s == nil {
		return errors.New("Describe returned no lab")
	}
	if !labName.MatchString(s.GetName()) {
		return fmt.Errorf("name %q: use lowercase letters, digits and dashes", s.GetName())
	}
	if len(s.GetHosts()) == 0 {
		return errors.New("it declares no hosts")
	}
	seen := map[string]bool{}
	for _, h := range s.GetHosts() {
		if !labName.MatchString(h) || seen[h] {
			return fmt.Errorf("host %q: hosts are distinct names of lowercase letters, digits and dashes", h)
		}
		seen[h] = true
	}
	seen = map[string]bool{}
	for _, p := range s.GetParams() {
		if p.GetName() == "" || seen[p.GetName()] || p.GetDefaultValue().GetKind() == nil {
			return fmt.Errorf("param %q: each parameter has a distinct name and a default value", p.GetName())
		}
		seen[p.GetName()] = true
	}
	seen = map[string]bool{}
	for _, c := range s.GetChecks() {
		if c.GetId() == "" || seen[c.GetId()] || c.GetPoints() < 0 {
			return fmt.Errorf("check %q: each check has a distinct id and points of 0 or more", c.GetId())
		}
		seen[c.GetId()] = true
	}
	for _, t := range s.GetTopologies() {
		if !contains(socklabrunner.Topologies, t) {
			return fmt.Errorf("topology %q: use %s", t, strings.Join(socklabrunner.Topologies, ", "))
		}
	}
	if s.GetTimeoutSeconds() < 0 || s.GetWatchdogSeconds() < 0 {
		return errors.New("timeout and watchdog are 0 or more seconds")
	}
	return nil
}

var labName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// infoOf is the runner's description of a plugin's lab.
func infoOf(s *pluginv1.LabSpec) socklabrunner.Info {
	info := socklabrunner.Info{Name: s.GetName(), Summary: s.GetSummary(), Hosts: append([]string(nil), s.GetHosts()...),
		Topologies: append([]string(nil), s.GetTopologies()...), Timeout: time.Duration(s.GetTimeoutSeconds() * float64(time.Second))}
	for _, c := range s.GetChecks() {
		info.Checks = append(info.Checks, transcript.Check{ID: c.GetId(), Description: c.GetDescription(), MaxPoints: points(c)})
	}
	return info
}

func points(c *pluginv1.CheckSpec) int {
	if c.GetPoints() == 0 {
		return 1
	}
	return int(c.GetPoints())
}

// ParamValues resolves --param NAME=VALUE overrides against the lab's parameters,
// defaults included, as plain Go values: int64, float64, bool, string or []byte.
func (l *Lab) ParamValues(overrides []string) (map[string]any, error) {
	out := map[string]any{}
	var names []string
	for _, p := range l.spec.GetParams() {
		out[p.GetName()] = plain(p.GetDefaultValue())
		names = append(names, p.GetName())
	}
	for _, s := range overrides {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, &socklabrunner.LabError{Msg: fmt.Sprintf("--param %q: want NAME=VALUE", s)}
		}
		def, known := out[k]
		if !known {
			return nil, &socklabrunner.LabError{Msg: fmt.Sprintf("--param %s: the lab has no such parameter (it has: %s)", k, strings.Join(names, ", "))}
		}
		var err error
		switch def.(type) {
		case int64:
			out[k], err = strconv.ParseInt(v, 0, 64)
		case float64:
			out[k], err = strconv.ParseFloat(v, 64)
		case bool:
			out[k], err = strconv.ParseBool(v)
		case []byte:
			out[k] = []byte(v)
		default:
			out[k] = v
		}
		if err != nil {
			return nil, &socklabrunner.LabError{Msg: fmt.Sprintf("--param %s=%s: want %s", k, v, typeName(def))}
		}
	}
	return out, nil
}

func typeName(v any) string {
	switch v.(type) {
	case int64:
		return "an int"
	case float64:
		return "a float"
	case bool:
		return "a bool"
	case []byte:
		return "bytes"
	}
	return "a string"
}

// plain is a protocol value as a plain Go value.
func plain(v *pluginv1.Value) any {
	switch k := v.GetKind().(type) {
	case *pluginv1.Value_IntValue:
		return k.IntValue
	case *pluginv1.Value_FloatValue:
		return k.FloatValue
	case *pluginv1.Value_BoolValue:
		return k.BoolValue
	case *pluginv1.Value_BytesValue:
		return k.BytesValue
	case *pluginv1.Value_StringValue:
		return k.StringValue
	}
	return nil
}

// value is a plain Go value as the protocol sends it.
func value(v any) *pluginv1.Value {
	switch v := v.(type) {
	case int64:
		return &pluginv1.Value{Kind: &pluginv1.Value_IntValue{IntValue: v}}
	case int:
		return &pluginv1.Value{Kind: &pluginv1.Value_IntValue{IntValue: int64(v)}}
	case float64:
		return &pluginv1.Value{Kind: &pluginv1.Value_FloatValue{FloatValue: v}}
	case bool:
		return &pluginv1.Value{Kind: &pluginv1.Value_BoolValue{BoolValue: v}}
	case []byte:
		return &pluginv1.Value{Kind: &pluginv1.Value_BytesValue{BytesValue: v}}
	}
	return &pluginv1.Value{Kind: &pluginv1.Value_StringValue{StringValue: fmt.Sprint(v)}}
}

func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
