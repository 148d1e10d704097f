// Package htmlreport writes a run as report.html: one self-contained page (no network:
// its script, style and data are inline) that draws the run as a ladder diagram in SVG,
// hosts as lifelines and each message an arrow from the step that sent it to the step
// that got it, with zoom and pan, each payload in hex and text on hover, each step's
// call, result, errno, duration and lab line on a click, and the lab's checks with their
// hints and, for a failed check, the hosts' kernel socket tables when it failed.
//
// The page's renderer (ladder.js, in Assets) draws from a stream of Records, one at a
// time, so a live page can draw a run as it goes: an Encoder makes them from the
// transcript's entries, and Writer writes them into the page. A long run is drawn in
// part: its first Options.Head steps and its last Options.Tail, and the page says how
// many it left out; the Writer's memory stays bounded by those, whatever the run's
// length.
package htmlreport

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/transcript"
)

// Assets holds the renderer, for pages that serve it, such as a live view:
// assets/ladder.js (SocklabLadder.create(element, {follow}) returns the ladder, with
// add(record) for each Record as JSON and end(end)), assets/ladder.css, and
// assets/page.html (report.html's frame).
//
//go:embed assets/ladder.js assets/ladder.css assets/page.html
var Assets embed.FS

// FileName is the report's name in a run's --out folder.
const FileName = "report.html"

// Defaults for Options.Head and Options.Tail.
const (
	DefaultHead = 1500
	DefaultTail = 500
)

// Options configures a Writer.
type Options struct {
	// Head and Tail are how many steps of a long run are drawn: the first Head and the
	// last Tail; the steps between are counted, not drawn. 0 means DefaultHead and
	// DefaultTail.
	Head, Tail int
	// Subject names what the run is of, beside its lab (Header.Subject), such as the
	// student whose submission it graded; it is in the page's title too.
	Subject string
}

// Writer writes report.html as the run goes: it is a report.Writer. Steps and arrows
// go out as they come while the run is within Options.Head steps; beyond, the last
// Options.Tail are held until End. Its methods are not safe for concurrent use; Err
// returns the first write error.
type Writer struct {
	w          *bufio.Writer
	enc        Encoder
	head, tail int
	subject    string
	started    bool
	err        error
	ring       []held // the last steps beyond head, oldest at ring[first]
	first      int
	skipped    Gap           // what fell out of the ring
	skipping   bool          // some did
	line       bytes.Buffer  // the record being encoded
	lineEnc    *json.Encoder // encodes into line
}

// held is one step beyond head, with the arrows that came with it, encoded.
type held struct {
	index  int
	step   []byte
	arrows []heldArrow
}

type heldArrow struct {
	lo   int // the lower of its two steps' indexes
	line []byte
}

var _ report.Writer = (*Writer)(nil)

// New returns a Writer that writes report.html to w.
func New(w io.Writer, opts Options) *Writer {
	if opts.Head <= 0 {
		opts.Head = DefaultHead
	}
	if opts.Tail <= 0 {
		opts.Tail = DefaultTail
	}
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), head: opts.Head, tail: opts.Tail, subject: opts.Subject}
}

// page is report.html split around its records.
var pageStart, pageEnd = func() (string, string) {
	frame, css, js := asset("page.html"), asset("ladder.css"), asset("ladder.js")
	if strings.Contains(strings.ToLower(js), "</script") || strings.Contains(strings.ToLower(css), "</style") {
		panic("htmlreport: an asset closes its own element")
	}
	start, end, ok := strings.Cut(frame, "{{records}}")
	if !ok {
		panic("htmlreport: page.html has no {{records}}")
	}
	start = strings.Replace(start, "{{css}}", css, 1)
	end = strings.Replace(end, "{{js}}", js, 1)
	return start, end
}()

func asset(name string) string {
	b, err := Assets.ReadFile("assets/" + name)
	if err != nil {
		panic("htmlreport: " + err.Error())
	}
	return string(b)
}

// Header starts the page and writes the run's header.
func (w *Writer) Header(h transcript.Header) {
	w.start(h.Lab)
	r := w.enc.Header(h)
	r.Header.Subject = w.subject
	w.write(w.encode(r))
}

func (w *Writer) start(lab string) {
	if w.started {
		return
	}
	w.started = true
	title := "socklab report"
	if lab != "" {
		title = lab + " · " + title
	}
	if w.subject != "" {
		title = w.subject + " · " + title
	}
	_, err := w.w.WriteString(strings.Replace(pageStart, "{{title}}", html.EscapeString(title), 1))
	w.fail(err)
}

// Entry writes one transcript entry's step and the arrows it completes, or holds them
// when the run is past Options.Head steps.
func (w *Writer) Entry(e transcript.Entry) {
	w.start("")
	recs := w.enc.Entry(e)
	st := recs[0].Step
	if st.Index < w.head {
		for _, r := range recs {
			w.write(w.encode(r))
		}
		return
	}
	h := held{index: st.Index, step: bytes.Clone(w.encode(recs[0]))}
	for _, r := range recs[1:] {
		h.arrows = append(h.arrows, heldArrow{lo: min(r.Arrow.Send, r.Arrow.Recv), line: bytes.Clone(w.encode(r))})
	}
	if len(w.ring) < w.tail {
		w.ring = append(w.ring, h)
		return
	}
	old := &w.ring[w.first]
	if !w.skipping {
		w.skipping, w.skipped.From = true, old.index
	}
	w.skipped.To = old.index
	w.skipped.Steps++
	w.skipped.Arrows += len(old.arrows)
	*old = h
	w.first = (w.first + 1) % len(w.ring)
}

// End writes the held steps, with a gap record before them for those left out, the
// lost datagrams, the run's end and the rest of the page, and flushes.
func (w *Writer) End(res *transcript.Result) {
	w.start(res.Header.Lab)
	tailFrom := w.head
	if w.skipping {
		tailFrom = w.skipped.To + 1
	}
	drawn := func(i int) bool { return i < w.head || i >= tailFrom }
	ordered := append(w.ring[w.first:len(w.ring):len(w.ring)], w.ring[:w.first]...)
	var lines [][]byte
	gap := w.skipped
	for _, h := range ordered {
		lines = append(lines, h.step)
		for _, a := range h.arrows {
			if drawn(a.lo) {
				lines = append(lines, a.line)
			} else {
				gap.Arrows++
			}
		}
	}
	var last [][]byte
	for _, r := range w.enc.End(res) {
		if a := r.Arrow; a != nil && !drawn(a.Send) {
			gap.Arrows++ // a lost datagram sent from a step not drawn
			continue
		}
		last = append(last, bytes.Clone(w.encode(r)))
	}
	if w.skipping {
		w.write(w.encode(Record{Gap: &gap}))
	}
	for _, l := range append(lines, last...) {
		w.write(l)
	}
	_, err := w.w.WriteString(pageEnd)
	w.fail(err)
	w.fail(w.w.Flush())
	w.ring, w.first = nil, 0
}

// Err returns the first error writing the page.
func (w *Writer) Err() error { return w.err }

// encode returns r as one line of JSON, valid until the next call. encoding/json
// escapes <, > and &, so no record can close the script element that holds it.
func (w *Writer) encode(r Record) []byte {
	w.line.Reset()
	if w.lineEnc == nil {
		w.lineEnc = json.NewEncoder(&w.line)
	}
	if err := w.lineEnc.Encode(r); err != nil {
		w.fail(fmt.Errorf("report.html: %w", err))
		return nil
	}
	return w.line.Bytes()
}

func (w *Writer) write(line []byte) {
	if w.err != nil || line == nil {
		return
	}
	_, err := w.w.Write(line)
	w.fail(err)
}

func (w *Writer) fail(err error) {
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("report.html: %w", err)
	}
}

// Write writes a finished run's report.html to w.
func Write(w io.Writer, rec *transcript.Record) error {
	return WriteWith(w, rec, Options{})
}

// WriteWith writes a finished run's report.html to w, with opts.
func WriteWith(w io.Writer, rec *transcript.Record, opts Options) error {
	hw := New(w, opts)
	if err := report.Replay(hw, &rec.Result, report.Entries(rec.Entries)); err != nil {
		return err
	}
	return hw.Err()
}

// File is report.html as one of the files report.WriteDir writes.
var File = report.DirFile{Name: FileName, Write: Write}
