package fault

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The nftables table: table ip socklab_faults {
//
//	counter p10_250_1_2_sent, _down, _loss, _dup   (per peer)
//	chain output {     type filter hook output priority filter
//		meta mark copyMark accept                           (Duplicate's copies)
//		meta mark heldMark queue num N bypass               (copies to hold)
//		ip daddr 10.250.1.2 counter name p10_250_1_2_sent jump p10_250_1_2
//	}
//	chain p10_250_1_2 {
//		counter name p10_250_1_2_down queue num 65535                   (Down)
//		meta random < T counter name p10_250_1_2_loss queue num 65535   (Loss)
//		[meta random < T] (mark set heldMark) dup to H device D
//			(mark restored) queue num 65535                          (Delay, Reorder)
//	}
//	chain duplicate {  type filter hook output priority filter + 1
//		meta mark copyMark accept
//		ip daddr 10.250.1.2 [meta random < T] counter name p10_250_1_2_dup
//			(mark set copyMark) dup to H device D (mark restored)   (Duplicate)
//	}
//
// }
//
// where D is the interface the route to the peer goes out of and H the next hop
// (the peer, or the route's gateway).
//
// Down and Loss do not drop with nftables' drop verdict: a drop in the output hook
// fails the sender's call with EPERM (sendto on UDP), and TCP takes the segment for
// unsent and sends it again at once; no link does that. They queue the packet to
// dropQueue, which no one listens on, without bypass: the kernel frees the packet and
// tells the sender it left, as a link that loses it would (and as netem's loss does).
// A program of the namespace that listened on that queue would get those packets.
//
// Delay and Reorder do not queue the packet the host sent either, but a copy (dup) of
// it, and free the packet as Down does. A packet the sending socket owns counts
// against its TCP small queues (TSQ) limit, about a millisecond at its rate, until it
// leaves the host: held for 50ms, it would let a TCP connection send a packet or two
// per round trip. The copy is the kernel's own, and it is the packet that leaves.
// It goes through the output hook again, with heldMark, which the output chain queues
// to the reader; the reader gives it mark 0 back as it releases it, and the packet goes
// on to the next chain, duplicate.
//
// Duplicate's chain comes after the one that queues, so that a delayed packet is copied
// when its delay is over (a packet the queue releases goes on to the next chain of the
// hook), not before. Its copy goes through the output hook again: it carries copyMark,
// for which both chains let it pass, so that it is neither counted, dropped, queued nor
// copied. An original gets its own mark back once copied. A packet a program marks
// (SO_MARK) with copyMark or heldMark would be taken for a copy.
const (
	dropQueue = 65535

	tableName      = "socklab_faults"
	outChainName   = "output"
	dupChainName   = "duplicate"
	copyMark       = 0x50c1ab0d
	heldMark       = 0x50c1ab0e
	sentSuffix     = "_sent"
	downSuffix     = "_down"
	lossSuffix     = "_loss"
	dupSuffix      = "_dup"
	objTypeCounter = 1 // NFT_OBJECT_COUNTER
)

// nftables registers: NFT_REG_1 and NFT_REG_2 (16 bytes each), and two 32-bit ones in
// NFT_REG_3 and NFT_REG_4 (NFT_REG32_08, NFT_REG32_12), so that none overlaps another.
const (
	reg1       = 1
	reg2       = 2
	regMark    = 16
	regNewMark = 20
)

// create makes the table, owned by the Table's netlink socket, and its two base
// chains, replacing a table of the same name that no socket owns; it removes qdiscs an
// earlier Table left.
func (t *Table) create(raw *mnl.Conn) error {
	t.table = &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4}
	if err := ownTable(raw); err != nil {
		return err
	}
	accept := nftables.ChainPolicyAccept
	t.out = t.nft.AddChain(&nftables.Chain{
		Name:     outChainName,
		Table:    t.table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookOutput,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &accept,
	})
	t.dup = t.nft.AddChain(&nftables.Chain{
		Name:     dupChainName,
		Table:    t.table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookOutput,
		Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityFilter + 1),
		Policy:   &accept,
	})
	t.nft.AddRule(passCopies(t.table, t.out))
	t.nft.AddRule(passCopies(t.table, t.dup))
	if err := t.nft.Flush(); err != nil {
		t.nft.DelTable(t.table)
		t.nft.Flush()
		return fmt.Errorf("make chains of nftables table %s: %w", tableName, err)
	}
	if err := t.removeStrayShapes(); err != nil {
		t.nft.DelTable(t.table)
		t.nft.Flush()
		return err
	}
	return nil
}

// ownTable makes the table with the flag NFT_TABLE_F_OWNER, which the library cannot
// set: the table belongs to the socket c, whose closing (the process's end included)
// removes it, and no other socket may change or remove it. In the same transaction, a
// table of the same name that no socket owns (a leftover) is removed first.
func ownTable(c *mnl.Conn) error {
	const tableFlagOwner = 0x2 // NFT_TABLE_F_OWNER
	name := []byte(tableName + "\x00")
	plain, err := mnl.MarshalAttributes([]mnl.Attribute{
		{Type: unix.NFTA_TABLE_NAME, Data: name},
	})
	if err != nil {
		return err
	}
	owned, err := mnl.MarshalAttributes([]mnl.Attribute{
		{Type: unix.NFTA_TABLE_NAME, Data: name},
		{Type: unix.NFTA_TABLE_FLAGS, Data: binary.BigEndian.AppendUint32(nil, tableFlagOwner)},
	})
	if err != nil {
		return err
	}
	header := func(family uint8, resID uint16) []byte {
		return binary.BigEndian.AppendUint16([]byte{family, unix.NFNETLINK_V0}, resID)
	}
	msg := func(typ int, flags mnl.HeaderFlags, attrs []byte) mnl.Message {
		return mnl.Message{
			Header: mnl.Header{Type: mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ), Flags: mnl.Request | mnl.Acknowledge | flags},
			Data:   append(header(unix.NFPROTO_IPV4, 0), attrs...),
		}
	}
	msgs := []mnl.Message{
		{Header: mnl.Header{Type: unix.NFNL_MSG_BATCH_BEGIN, Flags: mnl.Request}, Data: header(0, unix.NFNL_SUBSYS_NFTABLES)},
		msg(unix.NFT_MSG_NEWTABLE, mnl.Create, plain), // so that the delete finds one
		msg(unix.NFT_MSG_DELTABLE, 0, plain),
		msg(unix.NFT_MSG_NEWTABLE, mnl.Create|mnl.Excl, owned),
		{Header: mnl.Header{Type: unix.NFNL_MSG_BATCH_END, Flags: mnl.Request}, Data: header(0, unix.NFNL_SUBSYS_NFTABLES)},
	}
	if _, err := c.SendMessages(msgs); err != nil {
		return fmt.Errorf("make nftables table %s: %w", tableName, err)
	}
	// One answer for each of the three: an ack, or the error that aborted the batch.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var first error
	for answers := 0; answers < 3; {
		got, err := c.Receive()
		switch {
		case err == nil:
			answers += len(got)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("make nftables table %s: no answer from the kernel", tableName)
		default:
			answers++
			if first == nil {
				first = err
			}
		}
	}
	if errors.Is(first, unix.EPERM) {
		return fmt.Errorf("nftables table %s is another open fault table's (one per namespace; or this process lacks CAP_NET_ADMIN there): %w", tableName, first)
	}
	if first != nil {
		return fmt.Errorf("make nftables table %s: %w", tableName, first)
	}
	return nil
}

// commit rebuilds, in one transaction, the two base chains and p's chain: for a new
// peer it first makes its chain and counters, for a removed one it deletes them.
func (t *Table) commit(p *peer, isNew, remove bool) error {
	if isNew {
		for _, s := range []string{sentSuffix, downSuffix, lossSuffix, dupSuffix} {
			t.nft.AddObj(&nftables.NamedObj{
				Table: t.table,
				Name:  p.id + s,
				Type:  nftables.ObjTypeCounter,
				Obj:   &expr.Counter{},
			})
		}
		t.nft.AddChain(p.chain)
	}

	t.nft.FlushChain(t.out)
	t.nft.AddRule(passCopies(t.table, t.out))
	if t.q != nil {
		t.nft.AddRule(&nftables.Rule{Table: t.table, Chain: t.out, Exprs: append(
			matchMark(heldMark), queueTarget(t.q.num, true))})
	}
	t.nft.FlushChain(t.dup)
	t.nft.AddRule(passCopies(t.table, t.dup))
	for _, q := range t.sortedPeers() {
		t.nft.AddRule(&nftables.Rule{
			Table: t.table,
			Chain: t.out,
			Exprs: append(matchDaddr(q.addr),
				&expr.Objref{Type: objTypeCounter, Name: q.id + sentSuffix},
				&expr.Verdict{Kind: expr.VerdictJump, Chain: q.id},
			),
		})
		if f, ok := q.faults[Duplicate]; ok {
			t.nft.AddRule(&nftables.Rule{Table: t.table, Chain: t.dup, Exprs: dupExprs(q, f)})
		}
	}

	t.nft.FlushChain(p.chain)
	if remove {
		t.nft.DelChain(p.chain)
		for _, s := range []string{sentSuffix, downSuffix, lossSuffix, dupSuffix} {
			t.nft.DeleteObject(&nftables.NamedObj{Table: t.table, Name: p.id + s, Type: nftables.ObjTypeCounter})
		}
	} else {
		for _, exprs := range peerExprs(p) {
			t.nft.AddRule(&nftables.Rule{Table: t.table, Chain: p.chain, Exprs: exprs})
		}
	}
	if err := t.nft.Flush(); err != nil {
		return fmt.Errorf("update nftables table %s: %w", tableName, err)
	}
	return nil
}

// peerExprs returns the rules of p's chain, in order: Down, Loss, then the copy to hold.
func peerExprs(p *peer) [][]expr.Any {
	var rules [][]expr.Any
	if _, ok := p.faults[Down]; ok {
		rules = append(rules, []expr.Any{
			&expr.Objref{Type: objTypeCounter, Name: p.id + downSuffix},
			queueTarget(dropQueue, false),
		})
	}
	if f, ok := p.faults[Loss]; ok {
		r := random(f.Percent)
		if f.Every {
			r = every(uint32(math.Round(100 / f.Percent)))
		}
		r = append(r,
			&expr.Objref{Type: objTypeCounter, Name: p.id + lossSuffix},
			queueTarget(dropQueue, false),
		)
		rules = append(rules, r)
	}
	_, delay := p.faults[Delay]
	reorder, reo := p.faults[Reorder]
	if delay || reo {
		var r []expr.Any
		if !delay {
			// Only the packets to hold go to the queue; the reader holds each it gets.
			r = random(reorder.Percent)
		}
		r = append(r, copyOut(p, heldMark)...)
		r = append(r, queueTarget(dropQueue, false))
		rules = append(rules, r)
	}
	return rules
}

// dupExprs returns the rule that copies packets toward q.
func dupExprs(q *peer, f Fault) []expr.Any {
	exprs := matchDaddr(q.addr)
	exprs = append(exprs, random(f.Percent)...)
	exprs = append(exprs, &expr.Objref{Type: objTypeCounter, Name: q.id + dupSuffix})
	return append(exprs, copyOut(q, copyMark)...)
}

// copyOut sends a copy of the packet, marked mark, to q's next hop out of q's
// interface; the packet keeps its own mark.
func copyOut(q *peer, mark uint32) []expr.Any {
	hop := q.hop.As4()
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: regMark},
		&expr.Immediate{Register: regNewMark, Data: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: regNewMark},
		&expr.Immediate{Register: reg1, Data: hop[:]},
		&expr.Immediate{Register: reg2, Data: binaryutil.NativeEndian.PutUint32(uint32(q.oif))},
		&expr.Dup{RegAddr: reg1, RegDev: reg2, IsRegDevSet: true},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: regMark},
	}
}

// matchMark is "meta mark m".
func matchMark(m uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(m)},
	}
}

// passCopies is the rule that lets Duplicate's copies through a chain untouched.
func passCopies(t *nftables.Table, c *nftables.Chain) *nftables.Rule {
	return &nftables.Rule{
		Table: t,
		Chain: c,
		Exprs: append(matchMark(copyMark), &expr.Verdict{Kind: expr.VerdictAccept}),
	}
}

// matchDaddr is "ip daddr a".
func matchDaddr(a netip.Addr) []expr.Any {
	ip := a.As4()
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: ip[:]},
	}
}

// random is "meta random < T", true with probability percent/100; nothing for 100%.
// The comparison is of bytes in order, so T is written big-endian: the random's bytes
// are uniform whichever order they are read in.
func random(percent float64) []expr.Any {
	th, need := threshold(percent)
	if !need {
		return nil
	}
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, th)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPRANDOM, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpLt, Register: reg1, Data: b},
	}
}

// every matches every nth packet, the nth first: "numgen inc mod n == n-1".
func every(n uint32) []expr.Any {
	if n <= 1 {
		return nil
	}
	return []expr.Any{
		&expr.Numgen{Register: reg1, Modulus: n, Type: unix.NFT_NG_INCREMENTAL},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(n - 1)},
	}
}

// queueTarget is "queue num n [bypass]" as the xtables NFQUEUE target, revision 3, whose
// info is struct xt_NFQ_info_v3 { __u16 queuenum, queues_total, flags; } in host byte
// order, padded to 8 bytes. (The kernel may lack nftables' own queue expression.)
func queueTarget(n uint16, bypass bool) expr.Any {
	const nfqFlagBypass = 0x01
	info := make([]byte, 8)
	binary.NativeEndian.PutUint16(info[0:], n)
	binary.NativeEndian.PutUint16(info[2:], 1)
	if bypass {
		binary.NativeEndian.PutUint16(info[4:], nfqFlagBypass)
	}
	u := xt.Unknown(info)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u}
}

// counterPackets returns the packets a counter object counted.
func counterPackets(o *nftables.NamedObj) (uint64, bool) {
	if o.Type != nftables.ObjTypeCounter {
		return 0, false
	}
	c, ok := o.Obj.(*expr.Counter)
	if !ok {
		return 0, false
	}
	return c.Packets, true
}

// route returns the interface the route to a goes out of, and its next hop: a, or the
// route's gateway.
func (t *Table) route(a netip.Addr) (int, netip.Addr, error) {
	routes, err := t.rt.RouteGet(net.IP(a.AsSlice()))
	if err != nil {
		return 0, a, fmt.Errorf("route to %s: %w", a, err)
	}
	for _, r := range routes {
		if r.LinkIndex <= 0 {
			continue
		}
		hop := a
		if gw, ok := netip.AddrFromSlice(r.Gw); ok && gw.Unmap().Is4() {
			hop = gw.Unmap()
		}
		return r.LinkIndex, hop, nil
	}
	return 0, a, fmt.Errorf("route to %s: no interface", a)
}
