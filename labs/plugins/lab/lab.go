// Package lab is the Go SDK of socklab lab plugins: a lab written as a program of its
// own rather than a Starlark file, for labs that want a real language (traffic generated
// per student, a real protocol's messages, a course's existing Go code). A plugin drives
// the same hosts through the same operations as a Starlark lab, and its run records the
// same transcript.
//
// A plugin's main declares the lab and gives its body, which reads like a Starlark lab's:
//
//	func main() {
//		lab.Main(lab.Spec{
//			Name:    "tcp-simple",
//			Summary: "One TCP message echoed upper-cased",
//			Hosts:   []string{"server", "client"},
//			Params:  []lab.Param{{Name: "port", Default: 8080}},
//			Checks:  []lab.Check{{ID: "server-receives", Description: "..."}},
//		}, func(t *lab.T) {
//			server, client := t.Host("server"), t.Host("client")
//			srv := server.Socket(lab.AF_INET, lab.SOCK_STREAM)
//			srv.Bind(server.IP, t.Int("port"))
//			...
//			t.Check("server-receives", bytes.Equal(got, want), lab.Got(got), lab.Want(want))
//		})
//	}
//
// Build it with go build and run it with socklab run ./the-binary. Main speaks the
// protocol of proto/socklab/plugin/v1 through hashicorp/go-plugin (gRPC, mutual TLS);
// a plugin in another language implements that protocol itself (labs/PLUGINS.md).
//
// Like a Starlark lab, a failing operation (an uncaught socket error, a watchdog) stops
// the lab: the method does not return, and the run ends with that error. T.Try catches
// the errors a lab expects. The lab's function and the functions it gives T.Go are the
// only goroutines that may call T's, Host's, Socket's and Process's methods.
package lab

import (
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"

	pluginv1 "github.com/socklab/socklab/proto/socklab/plugin/v1"
)

// Spec declares a lab, as Starlark's lab(...) does.
type Spec struct {
	// Name is the lab's name: lowercase letters, digits and dashes.
	Name string
	// Summary says in one line what the lab shows.
	Summary string
	// Doc is a longer description, shown by socklab labs show.
	Doc string
	// Hosts are the lab's host roles.
	Hosts []string
	// Params are the lab's parameters; each one's Default gives its type.
	Params []Param
	// Checks are the lab's checks.
	Checks []Check
	// Topologies are the topologies the lab runs on; empty is every one.
	Topologies []string
	// Timeout bounds the run's wall time; 0 leaves the controller's bound.
	Timeout time.Duration
	// Watchdog bounds each blocking operation; 0 is 5 s.
	Watchdog time.Duration
}

// Param is one of a lab's parameters.
type Param struct {
	// Name is the parameter's name, as --param NAME=VALUE gives it.
	Name string
	// Default is its default value: an int, int64, float64, bool, string or []byte.
	Default any
}

// Check declares one check.
type Check struct {
	// ID is the check's slug ("server-receives").
	ID string
	// Description says what the check verifies.
	Description string
	// Points is what the check is worth; 0 is 1.
	Points int
}

// Handshake is the go-plugin handshake of lab plugins at this SDK's protocol version
// (pluginv1.ProtocolVersion).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  pluginv1.ProtocolVersion,
	MagicCookieKey:   pluginv1.MagicCookieKey,
	MagicCookieValue: pluginv1.MagicCookieValue,
}

// Main serves the lab spec with body fn to the controller that started this program, and
// exits when the controller is done with it. Run by hand, it says how to run it instead.
func Main(spec Spec, fn func(t *T)) {
	if err := spec.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "socklab lab plugin: %v\n", err)
		os.Exit(2)
	}
	if os.Getenv(pluginv1.MagicCookieKey) != pluginv1.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a socklab lab plugin (%s): run it with socklab run %s\n", spec.Name, spec.Summary, os.Args[0])
		os.Exit(2)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{pluginv1.PluginName: Plugin(spec, fn)},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

// Plugin returns the go-plugin plugin that serves the lab spec with body fn: what Main
// serves, for tests that serve it themselves (plugin.TestPluginGRPCConn). It is a
// plugin.GRPCPlugin; it has no net/rpc side.
func Plugin(spec Spec, fn func(t *T)) plugin.Plugin {
	return &grpcPlugin{spec: spec, fn: fn}
}

// validate checks what the controller would refuse anyway, so that a plugin's author
// hears of it when the plugin starts.
func (s Spec) validate() error {
	if s.Name == "" {
		return fmt.Errorf("the lab has no Name")
	}
	if len(s.Hosts) == 0 {
		return fmt.Errorf("lab %s declares no Hosts", s.Name)
	}
	for _, p := range s.Params {
		if _, err := toValue(p.Default); err != nil {
			return fmt.Errorf("lab %s: param %s: %w", s.Name, p.Name, err)
		}
	}
	return nil
}
