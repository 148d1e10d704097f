package web

import (
	"sync"
	"time"
)

// MaxPace bounds the pace a page may set: as a controller's runs (service.MaxPace).
const MaxPace = 10 * time.Second

// Control paces a run from its page: the pause after each step, which the page may
// change mid-run, and pause, step and resume. Its Wait is the run's
// runner.Options.Step. It is safe for concurrent use.
type Control struct {
	mu      sync.Mutex // guards the fields below
	pace    time.Duration
	paused  bool
	steps   int           // steps granted while paused, not yet taken
	taken   int           // steps the run has taken (Wait calls, each after a step)
	waiting int           // Wait calls held by a pause now
	wake    chan struct{} // closed and replaced at each change
}

// ControlState is what a page shows of a Control.
type ControlState struct {
	// PaceMs is the pause after each step, in milliseconds.
	PaceMs int64 `json:"pace_ms"`
	// Paused is set while the run holds after each step until the page steps or resumes.
	Paused bool `json:"paused"`
	// Steps is how many steps the run has taken: a paused run waits after this one.
	Steps int `json:"steps"`
	// Waiting is set while a paused run waits for a step.
	Waiting bool `json:"waiting"`
}

// NewControl returns a Control with the pace given, paused when paused is set (the
// command line's --step).
func NewControl(pace time.Duration, paused bool) *Control {
	return &Control{pace: pace, paused: paused, wake: make(chan struct{})}
}

// Wait holds the run after a step: for the pace, or while paused until a step or a
// resume; it returns at once when done is closed (the run is interrupted).
func (c *Control) Wait(done <-chan struct{}) {
	var start time.Time
	counted := false
	c.mu.Lock()
	c.taken++
	c.changed()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if counted {
			c.waiting--
		}
		c.changed()
		c.mu.Unlock()
	}()
	for {
		c.mu.Lock()
		wake := c.wake
		switch {
		case c.paused && c.steps > 0:
			c.steps--
			c.mu.Unlock()
			return
		case c.paused:
			if !counted {
				counted = true
				c.waiting++
				c.changed()
				wake = c.wake
			}
			c.mu.Unlock()
			select {
			case <-wake:
			case <-done:
				return
			}
			continue
		}
		if counted { // resumed: a step waits no pace after a pause
			c.mu.Unlock()
			return
		}
		if start.IsZero() {
			start = time.Now()
		}
		left := c.pace - time.Since(start)
		c.mu.Unlock()
		if left <= 0 {
			return
		}
		t := time.NewTimer(left)
		select {
		case <-t.C:
			return
		case <-wake: // the pace changed, or a pause came: look again
			t.Stop()
		case <-done:
			t.Stop()
			return
		}
	}
}

// SetPace sets the pause after each step (0 to MaxPace).
func (c *Control) SetPace(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pace = min(max(d, 0), MaxPace)
	c.changed()
}

// Pause holds the run after its next step until Step or Resume.
func (c *Control) Pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused, c.steps = true, 0
	c.changed()
}

// Step lets a paused run take one more step.
func (c *Control) Step() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		c.steps++
		c.changed()
	}
}

// Resume lets the run go on at its pace.
func (c *Control) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused, c.steps = false, 0
	c.changed()
}

// State returns what the page shows, and a channel closed at the next change.
func (c *Control) State() (ControlState, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ControlState{PaceMs: c.pace.Milliseconds(), Paused: c.paused, Steps: c.taken, Waiting: c.waiting > 0}, c.wake
}

// changed wakes whoever waits on the Control. c.mu is held.
func (c *Control) changed() {
	close(c.wake)
	c.wake = make(chan struct{})
}
