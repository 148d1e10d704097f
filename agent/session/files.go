package session

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/socklab/socklab/agent/errdefs"
	"github.com/socklab/socklab/agent/policy"
)

// jobFiles are the files a running program holds in the agent beyond its handle's place:
// its control socket, its stdin, stdout and stderr pipes, and its pidfd.
const jobFiles = 5

// fileBudget counts the files sessions hold (sockets, running programs' pipes) against a
// limit, so that a session is refused before the kernel refuses the agent (EMFILE) and
// the agent keeps files for its own connections.
type fileBudget struct {
	limit int
	about string // what the limit is, for messages

	mu   sync.Mutex // protects held
	held int
}

// take counts n more files, unless that would go over the limit; it reports whether it
// did.
func (b *fileBudget) take(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held+n > b.limit {
		return false
	}
	b.held += n
	return true
}

// give uncounts n files take counted.
func (b *fileBudget) give(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held -= n
}

// load returns the files counted.
func (b *fileBudget) load() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held
}

// OpenFileLimit returns this process's open-file limit (RLIMIT_NOFILE, the soft limit,
// which Go's runtime raises to the hard one as the process starts).
func OpenFileLimit() (uint64, error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	return r.Cur, nil
}

// processFiles is the budget every agent of this process shares: the files of all their
// sessions, within the process's open-file limit less what agents keep for themselves.
var processFiles = sync.OnceValue(func() *fileBudget {
	nofile, err := OpenFileLimit()
	if err != nil {
		nofile = 1024 // the kernel's usual default
	}
	return &fileBudget{limit: derivedFiles(nofile), about: derivedAbout(nofile)}
})

// derivedFiles is the files sessions may hold under the open-file limit nofile.
func derivedFiles(nofile uint64) int {
	sessions, _ := policy.FileBudget(nofile)
	return sessions
}

// derivedAbout says where a limit derived from the open-file limit nofile comes from.
func derivedAbout(nofile uint64) string {
	sessions, _ := policy.FileBudget(nofile)
	return fmt.Sprintf("its open-file limit, %d, less %d kept for its own connections and files", nofile, int(min(nofile, 1<<24))-sessions)
}

// newAgentFiles returns the budget of one agent under pol: its own bound when the policy
// sets one, else the one derived from the process's open-file limit.
func newAgentFiles(pol policy.Policy) *fileBudget {
	if pol.MaxAgentSockets > 0 {
		return &fileBudget{limit: pol.MaxAgentSockets, about: "set by its owner (--max-agent-sockets)"}
	}
	return &fileBudget{limit: processFiles().limit, about: processFiles().about}
}

// takeFiles counts n files against the agent's budget and the process's, or refuses
// with a request error saying which limit binds. what names what needs them ("a
// socket").
func (m *Manager) takeFiles(n int, what string) error {
	for _, b := range []*fileBudget{m.files, processFiles()} {
		if b.take(n) {
			continue
		}
		if b != m.files {
			m.files.give(n)
		}
		scope := "this agent's sessions hold"
		if b != m.files {
			scope = "the sessions of every agent in this process hold"
		}
		return errdefs.Errorf(errdefs.ErrResourceExhausted,
			"no room for %s: %s %d sockets and programs' files, the limit of %d (%s): close sockets or end programs, in any session, first",
			what, scope, b.load(), b.limit, b.about)
	}
	return nil
}

// giveFiles uncounts n files takeFiles counted.
func (m *Manager) giveFiles(n int) {
	m.files.give(n)
	processFiles().give(n)
}

// Files returns the files (sockets, running programs' pipes) the agent's sessions hold
// and the most they may hold together.
func (m *Manager) Files() (held, limit int) {
	return m.files.load(), min(m.files.limit, processFiles().limit)
}
