package sock

import (
	"context"
	"os"

	"golang.org/x/sys/unix"
)

// sendfileChunk bounds one sendfile(2), as CPython does (bpo-38319).
const sendfileChunk = 1 << 30

// SendFile sends count bytes of f from offset (count 0: to the end of f) on a stream, as
// Python's socket.sendfile does with os.sendfile: under a timeout each wait for room is
// bounded by it, a blocking socket waits as long as it must. It returns the bytes sent,
// with the error that stopped it, if any. The caller refuses non-blocking sockets, as
// Python does, and files that are not regular.
func (s *Socket) SendFile(ctx context.Context, f *os.File, offset, count int64) (int64, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	in := int(f.Fd())
	var total int64
	for count == 0 || total < count {
		chunk := int64(sendfileChunk)
		if count > 0 {
			chunk = min(chunk, count-total)
		}
		// As CPython's: under a timeout, a poll of at most the timeout before each
		// sendfile(2); blocking, sendfile(2) at once and a wait when it would block.
		deadline, how := s.callMode(0)
		if how == once {
			how = tryFirst // the caller refuses non-blocking sockets; never spin
		}
		off := offset + total
		var n int
		err := s.wait(ctx, writeSide, deadline, how, func(fd int) error {
			var err error
			n, err = unix.Sendfile(fd, in, &off, int(chunk))
			return err
		})
		if n > 0 {
			total += int64(n)
		}
		if err != nil {
			return total, err
		}
		if n == 0 {
			break // the end of the file
		}
	}
	return total, nil
}
