// Command socklab is the one socklab binary: agent, controller, labs, demo.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/socklab/socklab/agent/process"
	"github.com/socklab/socklab/controller/sandbox"
	"github.com/socklab/socklab/controller/topology"
)

func main() {
	process.Init()  // this binary is also the init of the jobs its agents start
	topology.Init() // and the host of an unprivileged netns run
	sandbox.Init()  // and the process of each lab a controller runs
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // the first Ctrl-C ends the run in order; a second one kills at once
	}()
	root := rootCommand()
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee exitError
		switch {
		case errors.As(err, &ee):
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, ee.msg) // file:line:col: message, as compilers print
			}
		default:
			fmt.Fprintln(os.Stderr, "socklab:", err)
		}
		if debug, _ := root.PersistentFlags().GetBool("debug"); debug {
			if d := errorDetail(err); d != "" {
				fmt.Fprintln(os.Stderr, "socklab: debug:", d)
			}
		}
		os.Exit(exitCode(err))
	}
}
