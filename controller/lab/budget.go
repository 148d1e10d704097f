package lab

import (
	"sync/atomic"

	"go.starlark.net/starlark"

	"github.com/socklab/socklab/controller/runner"
)

// stepQuantum is how many steps a thread runs between two charges to its lab's steps
// budget: few enough that a lab overshoots its budget by little (a quantum per thread),
// many enough that charging costs nothing measurable.
const stepQuantum = 1 << 16

// meter counts the Starlark steps of a lab's threads, together, against its steps budget.
// Starlark bounds each thread's steps on its own (SetMaxExecutionSteps); a meter lets each
// thread run a quantum at a time and adds each quantum to one shared count.
type meter struct {
	// budget is the steps budget; 0 is none.
	budget uint64
	// used is the steps charged so far, by every thread.
	used atomic.Uint64
	// over is called, on the thread that took the count over budget, before that thread is
	// cancelled; it stops the lab's other threads. It may be called again by another thread.
	over func(th *starlark.Thread, err *runner.BudgetError)
}

// attach makes th count its steps against m, before th runs. th still stops at maxSteps
// of its own ("too many steps"), as every lab thread does; steps it runs after its last
// full quantum are charged by settle.
func (m *meter) attach(th *starlark.Thread) {
	var charged uint64 // th's steps already in m.used; only th's goroutine touches it
	th.SetMaxExecutionSteps(min(stepQuantum, maxSteps))
	th.OnMaxSteps = func(th *starlark.Thread) {
		total := m.used.Add(th.Steps - charged)
		charged = th.Steps
		switch {
		case m.budget > 0 && total > m.budget:
			err := runner.OverSteps(m.budget)
			m.over(th, err)
			th.Cancel(err.Error())
		case th.Steps >= maxSteps:
			th.Cancel("too many steps")
		default:
			th.SetMaxExecutionSteps(min(th.Steps+stepQuantum, maxSteps))
		}
	}
}

// settle charges the steps th ran since its last charge, once th has ended.
func (m *meter) settle(th *starlark.Thread) {
	th.OnMaxSteps(th)
}
