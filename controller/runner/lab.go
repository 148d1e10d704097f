package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// Lab is what the runner runs: a description of the lab, and a Run that drives the lab's
// hosts through the Env the runner gives it. A Starlark file is one kind of lab; a lab
// plugin is another.
type Lab interface {
	// Info describes the lab.
	Info() Info
	// ParamValues resolves NAME=VALUE overrides against the lab's parameters, defaults
	// included. A mistake in them is a *LabError.
	ParamValues(overrides []string) (map[string]any, error)
	// Run runs the lab on hosts with params (from ParamValues), acting only through env. It
	// returns when the lab and everything it started have ended.
	Run(ctx context.Context, env Env, hosts []HostInfo, params map[string]any) *Outcome
}

// Info describes a lab.
type Info struct {
	// Name is the lab's name.
	Name string
	// Summary says in one line what the lab shows.
	Summary string
	// Hosts are the lab's host roles, in declaration order.
	Hosts []string
	// Checks are the lab's declared checks, in declaration order, none reached.
	Checks []transcript.Check
	// Topologies are the topologies the lab runs on; empty is every one. A lab whose hosts
	// must each have a network stack of their own names those that give one.
	Topologies []string
	// Timeout is the lab's own bound on its run's wall time (lab(timeout = ...)); 0 is
	// none. A run's Options.MaxTime caps it.
	Timeout time.Duration
}

// Topologies are the names of the topologies a lab may name: local (agents on loopback
// addresses of this machine), netns (a network namespace per host), docker (a container
// per host), static (agents that already run, --agent or an inventory).
var Topologies = []string{"local", "netns", "docker", "static"}

// Env is what a running lab acts through: the agents of its hosts and the transcript.
type Env interface {
	// Do performs op on handle (0: a new socket, or an operation on the host itself) of
	// the host with role. pos is the lab's file:line making the call. Socket errors are in
	// the returned event; an error is the call's own (cancelled, the agent refused, the
	// agent lost), of an errdefs kind or an *InfraError.
	Do(ctx context.Context, role string, handle uint32, op *socklabv1.Operation, pos string) (*socklabv1.PerformResponse, error)
	// Say records narration.
	Say(text, pos string)
}

// HostInfo names a lab host for the lab: its role and address.
type HostInfo struct {
	// Role is the host's role.
	Role string
	// IP is its address.
	IP string
}

// Outcome is how a lab's run ended.
type Outcome struct {
	// Checks are every declared check, reached or not.
	Checks []transcript.Check
	// Err is what stopped the lab early, if anything. A *LabError is a mistake in the lab,
	// a *BudgetError a lab over one of its budgets, an *InfraError a lost or unreachable
	// agent, the context's error an interruption; anything else (an uncaught socket error,
	// a watchdog) fails the run.
	Err error
	// Pos is the lab's file:line where Err happened.
	Pos string
}

// Passed reports whether the lab ran to its end and every check held.
func (o *Outcome) Passed() bool {
	if o.Err != nil {
		return false
	}
	for _, c := range o.Checks {
		if !c.Passed {
			return false
		}
	}
	return true
}

// LabError is a problem with the lab itself, reported as "file:line:col: message".
type LabError struct {
	// Pos is the position in the lab's source, "file:line:col" (or "file" alone).
	Pos string
	// Msg says what is wrong.
	Msg string
}

// Error returns "pos: msg".
func (e *LabError) Error() string {
	if e.Pos == "" {
		return e.Msg
	}
	return e.Pos + ": " + e.Msg
}

// InfraError is an agent that could not be reached, was lost, or failed a call.
type InfraError struct {
	// Host is the lab host whose agent failed.
	Host string
	// Err is what happened.
	Err error
}

// Error names the host.
func (e *InfraError) Error() string { return fmt.Sprintf("agent of host %s: %v", e.Host, e.Err) }

// Unwrap returns what happened.
func (e *InfraError) Unwrap() error { return e.Err }
