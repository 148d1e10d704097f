package fault

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The NFQUEUE the reader takes: the first of queueTries numbers from queueBase that no
// other listener of the namespace has.
const (
	queueBase  = 0x5c1a
	queueTries = 16
	// queueMaxLen is how many packets the kernel holds for the reader at most (netem's
	// default limit is 1000); past it, packets toward delayed peers are dropped.
	queueMaxLen = 10000
	// queueRcvBuf is the receive buffer asked for the reader's socket, for bursts.
	queueRcvBuf = 8 << 20
	// quiet is how long Close waits for packets still on their way to the reader,
	// queued before the rules went, at most closeWait in all.
	quiet     = 20 * time.Millisecond
	closeWait = 500 * time.Millisecond
)

// reader takes the packets the table queues and gives each back to the kernel when its
// delay is over. It keeps them in the kernel (it copies only their IP header, to know
// the peer) and only sends verdicts, in the order of their release times.
type reader struct {
	nfq    *nfqueue.Nfqueue
	num    uint16
	cancel context.CancelFunc
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}

	verdictErrs atomic.Uint64 // verdicts the kernel did not take (the packet went meanwhile)
	recvErrs    atomic.Uint64 // consecutive receive errors

	mu       sync.Mutex
	peers    map[netip.Addr]*qpeer
	held     heldHeap
	seq      uint64
	closing  bool
	lastRecv time.Time
	rng      *rand.Rand
}

// qpeer is how the reader treats the packets toward one peer.
type qpeer struct {
	delay, jitter time.Duration
	reorder       bool
	reorderPct    float64
	hold          time.Duration
	// preselected: the nftables rule queues only the packets Reorder holds (there is
	// no Delay), so the reader holds every packet it gets.
	preselected bool

	delayed, reordered uint64
}

// heldPacket is a packet the kernel keeps until the reader releases it at at.
type heldPacket struct {
	id   uint32
	at   time.Time
	seq  uint64
	peer netip.Addr
}

type heldHeap []heldPacket

func (h heldHeap) Len() int { return len(h) }
func (h heldHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h heldHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(x any)   { *h = append(*h, x.(heldPacket)) }
func (h *heldHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// openReader binds a queue of the namespace that do enters and starts reading it.
func openReader(do func(func() error) error) (*reader, error) {
	var lastErr error
	for i := range queueTries {
		num := uint16(queueBase + i)
		r := &reader{
			num:   num,
			wake:  make(chan struct{}, 1),
			stop:  make(chan struct{}),
			done:  make(chan struct{}),
			peers: map[netip.Addr]*qpeer{},
			rng:   rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		}
		err := do(func() error {
			nfq, err := nfqueue.Open(&nfqueue.Config{
				NfQueue:      num,
				MaxPacketLen: 20, // the IPv4 header, for the destination
				MaxQueueLen:  queueMaxLen,
				Copymode:     nfqueue.NfQnlCopyPacket,
				Flags:        nfqueue.NfQaCfgFlagGSO, // whole GSO packets: no segmenting to queue them
				AfFamily:     unix.AF_INET,
				WriteTimeout: time.Second,
			})
			r.nfq = nfq
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("nfqueue netlink socket: %w", err)
		}
		// Packets the socket has no room for are not queued (dropped, as a full
		// queue's are); the reader need not hear about it.
		_ = r.nfq.SetOption(netlink.NoENOBUFS, true)
		if sc, err := r.nfq.Con.SyscallConn(); err == nil {
			_ = sc.Control(func(fd uintptr) {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, queueRcvBuf)
			})
		}
		ctx, cancel := context.WithCancel(context.Background())
		if err := r.nfq.RegisterWithErrorFunc(ctx, r.hook, r.onError(ctx)); err != nil {
			cancel()
			r.nfq.Close()
			if errors.Is(err, unix.EBUSY) {
				lastErr = err
				continue
			}
			return nil, fmt.Errorf("nfqueue %d: %w", num, err)
		}
		r.cancel = cancel
		go r.run()
		return r, nil
	}
	return nil, fmt.Errorf("nfqueues %d to %d all have listeners in this namespace: %w", queueBase, queueBase+queueTries-1, lastErr)
}

// hook takes a queued packet: it is scheduled for release.
func (r *reader) hook(a nfqueue.Attribute) int {
	r.recvErrs.Store(0)
	if a.PacketID == nil {
		return 0
	}
	id := *a.PacketID
	var dst netip.Addr
	if a.Payload != nil && len(*a.Payload) >= 20 {
		dst = netip.AddrFrom4([4]byte((*a.Payload)[16:20]))
	}
	now := time.Now()
	r.mu.Lock()
	r.lastRecv = now
	if r.closing {
		r.mu.Unlock()
		r.verdict(id)
		return 0
	}
	at := now
	if p := r.peers[dst]; p != nil {
		at = now.Add(r.delayFor(p))
	}
	heap.Push(&r.held, heldPacket{id: id, at: at, seq: r.seq, peer: dst})
	r.seq++
	r.mu.Unlock()
	r.poke()
	return 0
}

// delayFor draws how long a packet toward p is held, under r.mu.
func (r *reader) delayFor(p *qpeer) time.Duration {
	var d time.Duration
	if p.delay > 0 {
		d = p.delay
		if p.jitter > 0 {
			d += time.Duration((r.rng.Float64()*2 - 1) * float64(p.jitter))
		}
		d = max(d, 0)
		p.delayed++
	}
	if p.reorder && (p.preselected || r.rng.Float64()*100 < p.reorderPct) {
		d += p.hold
		p.reordered++
	}
	return d
}

// onError decides whether the reader goes on after a receive error: not once stopped
// or closed, nor after many errors in a row (the queue then goes with the socket, and
// its packets pass: the rules ask for bypass).
func (r *reader) onError(ctx context.Context) nfqueue.ErrorFunc {
	return func(err error) int {
		if ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) || errors.Is(err, syscall.EBADF) {
			return 1
		}
		if r.recvErrs.Add(1) > 1000 {
			return 1
		}
		return 0
	}
}

func (r *reader) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// verdict releases a packet, with mark 0 for the heldMark its copy was given.
func (r *reader) verdict(id uint32) {
	if err := r.nfq.SetVerdictWithOption(id, nfqueue.NfAccept, nfqueue.WithMark(0)); err != nil {
		r.verdictErrs.Add(1)
	}
}

// run releases held packets when their time comes, in order.
func (r *reader) run() {
	defer close(r.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []uint32
	for {
		r.mu.Lock()
		now := time.Now()
		due = due[:0]
		for len(r.held) > 0 && (r.closing || !r.held[0].at.After(now)) {
			due = append(due, heap.Pop(&r.held).(heldPacket).id)
		}
		next := time.Duration(-1)
		if len(r.held) > 0 {
			next = r.held[0].at.Sub(now)
		}
		r.mu.Unlock()
		for _, id := range due {
			r.verdict(id)
		}
		if next >= 0 {
			timer.Reset(next)
		}
		select {
		case <-r.wake:
		case <-timer.C:
		case <-r.stop:
			r.mu.Lock()
			rest := r.takeAll(func(heldPacket) bool { return true })
			r.mu.Unlock()
			for _, id := range rest {
				r.verdict(id)
			}
			return
		}
	}
}

// takeAll removes from the held packets those that match and returns their ids in
// release order, under r.mu.
func (r *reader) takeAll(match func(heldPacket) bool) []uint32 {
	var taken heldHeap
	kept := r.held[:0]
	for _, h := range r.held {
		if match(h) {
			taken = append(taken, h)
		} else {
			kept = append(kept, h)
		}
	}
	clear(r.held[len(kept):])
	r.held = kept
	heap.Init(&r.held)
	slices.SortFunc(taken, func(a, b heldPacket) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	ids := make([]uint32, len(taken))
	for i, h := range taken {
		ids[i] = h.id
	}
	return ids
}

// configure sets how packets toward addr are held, from the peer's faults.
func (r *reader) configure(addr netip.Addr, faults map[Kind]Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peers[addr]
	if p == nil {
		p = &qpeer{}
		r.peers[addr] = p
	}
	d, hasDelay := faults[Delay]
	ro, hasReorder := faults[Reorder]
	p.delay, p.jitter = 0, 0
	if hasDelay {
		p.delay, p.jitter = d.Delay, d.Jitter
	}
	p.reorder, p.reorderPct, p.hold = hasReorder, ro.Percent, ro.Delay
	if hasReorder && p.hold == 0 {
		p.hold = DefaultReorderHold
	}
	p.preselected = hasReorder && !hasDelay
}

// counts returns how many packets toward addr Delay and Reorder held.
func (r *reader) counts(addr netip.Addr) (delayed, reordered uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.peers[addr]; p != nil {
		return p.delayed, p.reordered
	}
	return 0, 0
}

// forget drops addr's settings and releases its held packets at once; it returns how
// many packets toward addr Delay and Reorder held.
func (r *reader) forget(addr netip.Addr) (delayed, reordered uint64) {
	r.mu.Lock()
	if p := r.peers[addr]; p != nil {
		delayed, reordered = p.delayed, p.reordered
	}
	delete(r.peers, addr)
	ids := r.takeAll(func(h heldPacket) bool { return h.peer == addr })
	r.mu.Unlock()
	for _, id := range ids {
		r.verdict(id)
	}
	r.poke()
	return delayed, reordered
}

// close releases every held packet, and those still on their way, then stops reading
// and unbinds the queue. The rules that queue must be gone already.
func (r *reader) close() error {
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
	r.poke()
	deadline := time.Now().Add(closeWait)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		done := len(r.held) == 0 && time.Since(r.lastRecv) >= quiet
		r.mu.Unlock()
		if done {
			break
		}
		time.Sleep(quiet / 4)
	}
	close(r.stop)
	<-r.done
	r.cancel()
	if err := r.nfq.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close nfqueue %d: %w", r.num, err)
	}
	return nil
}
