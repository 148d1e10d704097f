package session

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// slowPattern is the bulk pattern from offset off, n bytes long, made byte by byte as the
// definition says.
func slowPattern(off, n uint64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + uint64(i)) % 251)
	}
	return b
}

// TestPatternCRC: the worked-out checksum of a run of the pattern equals crc32 over its
// bytes, for runs from every phase, around whole pieces, and up to several megabytes.
func TestPatternCRC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type run struct{ off, n uint64 }
	runs := []run{{0, 0}, {0, 1}, {250, 1}, {0, patternPiece}, {7, patternPiece - 1}, {7, patternPiece + 1}, {250, 3*patternPiece + 17}, {1 << 40, 1 << 20}}
	for off := range uint64(251) {
		runs = append(runs, run{off, uint64(rng.IntN(200_000))})
	}
	for range 20 {
		runs = append(runs, run{rng.Uint64N(1 << 50), uint64(rng.IntN(8 << 20))})
	}
	for _, r := range runs {
		if got, want := patternCRC(r.off, r.n), crc32.ChecksumIEEE(slowPattern(r.off, r.n)); got != want {
			t.Errorf("patternCRC(%d, %d) = %08x, want %08x", r.off, r.n, got, want)
		}
	}
	for _, n := range []int{0, 1, bulkChunk} {
		for _, off := range []uint64{0, 250, 251, 1<<33 + 5} {
			if got, want := string(patternAt(off, n)), string(slowPattern(off, uint64(n))); got != want {
				t.Errorf("patternAt(%d, %d) is not the pattern", off, n)
			}
		}
	}
}

// TestPatternSum: patternSum gives crc32 of what was added, whether the stream is the
// pattern from any phase, breaks it anywhere (first byte, mid-chunk, a later chunk), or
// never was it; in chunks of any size.
func TestPatternSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	var streams [][]byte
	for range 30 {
		streams = append(streams, slowPattern(rng.Uint64N(1000), uint64(rng.IntN(1<<20))))
	}
	for range 30 {
		s := slowPattern(rng.Uint64N(1000), uint64(1+rng.IntN(1<<20)))
		s[rng.IntN(len(s))] ^= byte(1 + rng.IntN(255)) // one wrong byte anywhere
		streams = append(streams, s)
	}
	streams = append(streams, nil, []byte{251}, []byte{255, 0, 1}, random(300_000), append(slowPattern(5, 100_000), slowPattern(5, 100_000)...))
	for i, s := range streams {
		var sum patternSum
		for rest := s; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(bulkChunk))
			if rng.IntN(4) == 0 {
				n = min(len(rest), bulkChunk)
			}
			sum.add(rest[:n])
			rest = rest[n:]
		}
		if got, want := sum.sum(), crc32.ChecksumIEEE(s); got != want {
			t.Errorf("stream %d (%d bytes): patternSum = %08x, want %08x", i, len(s), got, want)
		}
	}
}
