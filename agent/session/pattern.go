package session

import (
	"bytes"
	"hash/crc32"
	"sync"
)

// The bulk pattern is the byte stream send_bulk sends and drain recognises: byte i is
// i mod 251 (a prime, so the pattern never lines up with power-of-two chunk sizes). Both
// ends report the CRC-32 (IEEE) of what they moved. Neither generates the pattern byte by
// byte nor checksums it byte by byte: send_bulk sends slices of one precomputed block,
// drain compares what it receives with that block, and the checksum of a run of the
// pattern is worked out from its start and length (patternCRC).

// patternPeriod is the pattern's period: byte i is i mod patternPeriod.
const patternPeriod = 251

// patternPiece is a whole number of periods close to 64 KiB: the pattern from any phase
// repeats itself every patternPiece bytes.
const patternPiece = patternPeriod * 261

// patternBlock holds the pattern from offset 0, long enough that a bulk chunk, or a
// piece, starting at any phase is one slice of it: the pattern from offset off, n bytes
// long, is patternBlock[off%patternPeriod:][:n] for n up to bulkChunk.
var patternBlock = func() []byte {
	b := make([]byte, max(bulkChunk, patternPiece)+patternPeriod)
	for i := range b {
		b[i] = byte(i % patternPeriod)
	}
	return b
}()

// patternAt returns the pattern from offset off, n bytes long (n at most bulkChunk). The
// slice is shared: callers must not write to it.
func patternAt(off uint64, n int) []byte {
	p := int(off % patternPeriod)
	return patternBlock[p : p+n : p+n]
}

// crcShift is the linear part of a CRC-32 update over a fixed number of bytes: for any
// data d of that length, crc32.Update(c, crc32.IEEETable, d) is
// shift.apply(c) ^ crc32.ChecksumIEEE(d). Entry i is the image of bit i.
type crcShift [32]uint32

// apply returns the image of c.
func (m *crcShift) apply(c uint32) uint32 {
	var s uint32
	for i := 0; c != 0; i, c = i+1, c>>1 {
		if c&1 != 0 {
			s ^= m[i]
		}
	}
	return s
}

// pieceShift is the crcShift of patternPiece bytes, computed once from the definition.
var pieceShift = sync.OnceValue(func() *crcShift {
	var m crcShift
	d := patternBlock[:patternPiece]
	zero := crc32.ChecksumIEEE(d)
	for i := range m {
		m[i] = crc32.Update(1<<i, crc32.IEEETable, d) ^ zero
	}
	return &m
})

// patternCRC returns the CRC-32 (IEEE) of the pattern from offset off, n bytes long: the
// CRC of whole pieces (all equal, since a piece is whole periods) is carried from one
// piece to the next in 32 steps rather than over 64 KiB, and the last part piece is
// checksummed as bytes. A gibibyte costs a few hundred microseconds.
func patternCRC(off, n uint64) uint32 {
	p := off % patternPeriod
	var c uint32
	if k := n / patternPiece; k > 0 {
		m := pieceShift()
		piece := crc32.ChecksumIEEE(patternBlock[p : p+patternPiece])
		for range k {
			c = m.apply(c) ^ piece
		}
	}
	return crc32.Update(c, crc32.IEEETable, patternBlock[p:p+n%patternPiece])
}

// patternSum checksums a received byte stream as crc32.Update over all of it would, but
// cheaply while the stream is the bulk pattern (from any phase): bytes that continue the
// pattern are compared with patternBlock rather than checksummed, and their CRC is
// worked out at the end. From the first byte that breaks the pattern on, it checksums
// bytes as they come. The zero value is ready to use.
type patternSum struct {
	// n is the number of bytes added.
	n uint64
	// start is the pattern offset of the first byte (its value), while the stream is the
	// pattern.
	start uint64
	// broken is set once a byte did not continue the pattern; crc then holds the CRC of
	// everything added.
	broken bool
	crc    uint32
}

// add adds data (at most bulkChunk bytes) to the stream.
func (s *patternSum) add(data []byte) {
	if len(data) == 0 {
		return
	}
	if !s.broken {
		if s.n == 0 {
			s.start = uint64(data[0]) // a pattern byte is its own phase; >= 251 fails below
		}
		if bytes.Equal(data, patternAt(s.start+s.n, len(data))) {
			s.n += uint64(len(data))
			return
		}
		s.broken = true
		s.crc = patternCRC(s.start, s.n)
	}
	s.crc = crc32.Update(s.crc, crc32.IEEETable, data)
	s.n += uint64(len(data))
}

// sum returns the CRC-32 (IEEE) of the bytes added.
func (s *patternSum) sum() uint32 {
	if s.broken {
		return s.crc
	}
	return patternCRC(s.start, s.n)
}
