// Command http-server is a lab plugin that grades a student's HTTP/1.0 file server:
// python3 server.py PORT, serving GET requests for the files in its working directory.
// Each run makes up new file names and contents, so a server that hard-codes what it
// saw in one run fails the next; the lab then requests a file the server has, one it
// does not have, and a request that is not HTTP, and checks each response, with a hint
// for each failed check.
//
//	go build -o /tmp/http-lab ./labs/plugins/http-server
//	socklab run /tmp/http-lab --files ./labs/plugins/http-server/testdata/good
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/socklab/socklab/labs/plugins/lab"
)

func main() {
	lab.Main(lab.Spec{
		Name:    "http-server",
		Summary: "Grade an HTTP/1.0 file server: GET with paths made up per run, 404, Content-Length, close",
		Doc: `The student's server.py (python3 server.py PORT, bound to SOCKLAB_HOST_IP) serves the files
in its working directory over HTTP/1.0. The lab gives it files with names and contents made
up for this run (seed 0: new ones each run), waits until it listens, and requests a file it
has, one it does not have, and a line that is not HTTP, each on a connection of its own.`,
		Hosts: []string{"server", "client"},
		Params: []lab.Param{
			{Name: "port", Default: 8080},
			{Name: "files", Default: 2},
			{Name: "seed", Default: 0},
		},
		Checks: []lab.Check{
			{ID: "listens", Description: "server.py listens on the port it is given", Points: 1},
			{ID: "serves-files", Description: "GET /NAME answers 200 OK with the file's exact bytes", Points: 3},
			{ID: "content-length", Description: "each 200 response's Content-Length is the body's length", Points: 1},
			{ID: "not-found", Description: "GET of a file the server does not have answers 404", Points: 2},
			{ID: "bad-request", Description: "a request line that is not GET PATH HTTP/1.0 answers 400", Points: 1},
			{ID: "closes", Description: "the server closes each connection after its response (HTTP/1.0)", Points: 1},
		},
		Timeout: 60 * time.Second,
	}, run)
}

func run(t *lab.T) {
	server, client := t.Host("server"), t.Host("client")
	port := t.Int("port")
	rng := newRand(t.Int("seed"))

	submission := t.FilesIfAny("server.py")
	if _, ok := submission["server.py"]; !ok {
		t.Check("listens", false, lab.Msg("the submission has no server.py"), lab.Hint("hand in server.py at the top of your folder"))
		return
	}
	files := map[string][]byte{"server.py": submission["server.py"]}
	var names []string
	for range t.Int("files") {
		name := fmt.Sprintf("page-%s.txt", word(rng, 6))
		files[name] = []byte(fmt.Sprintf("%s\n%s\n", word(rng, 12), word(rng, 20)))
		names = append(names, name)
	}
	t.Say("this run's files: %s", strings.Join(names, ", "))
	proc := server.Spawn([]string{"python3", "server.py", strconv.Itoa(port)}, lab.SpawnOptions{Files: files})
	if err := t.Try(func() { proc.WaitListening(port, 5*time.Second) }); err != nil {
		t.Check("listens", false, lab.Msg("nothing listened on %s:%d within 5 s; its stderr: %s", server.IP, port, lastLine(proc.Stderr())),
			lab.Hint(fmt.Sprintf("bind to (os.environ['SOCKLAB_HOST_IP'], int(sys.argv[1])) and call listen(); the lab started it as python3 server.py %d", port)))
		return
	}
	t.Check("listens", true)

	lengthsOK := true
	closedOK := true
	for _, name := range names {
		resp, closed := get(t, client, server, port, "GET /"+name+" HTTP/1.0\r\nHost: "+server.IP+"\r\n\r\n")
		closedOK = closedOK && closed
		want := files[name]
		t.Check("serves-files", resp.status == 200 && bytes.Equal(resp.body, want),
			lab.Msg("GET /%s", name), lab.Got(resp.summary()), lab.Want(lab.Text("200 with "+lab.Repr(want))),
			lab.Hint("open the file the path names (its base name, in the server's folder) and send its bytes after the header; the names change every run"))
		if resp.status == 200 {
			n, err := strconv.Atoi(resp.header("content-length"))
			ok := err == nil && n == len(resp.body)
			lengthsOK = lengthsOK && ok
			t.Check("content-length", ok, lab.Msg("GET /%s: Content-Length %q, body of %d bytes", name, resp.header("content-length"), len(resp.body)),
				lab.Hint("send Content-Length: N, N the body's length in bytes, in the header of every 200 response"))
		}
	}
	if lengthsOK && len(names) == 0 {
		t.Check("content-length", true)
	}

	missing := "/missing-" + word(rng, 8) + ".txt"
	resp, closed := get(t, client, server, port, "GET "+missing+" HTTP/1.0\r\n\r\n")
	closedOK = closedOK && closed
	t.Check("not-found", resp.status == 404, lab.Msg("GET %s", missing), lab.Got(resp.summary()), lab.Want(lab.Text("404")),
		lab.Hint("answer HTTP/1.0 404 Not Found when the file does not exist, not 200 with an empty body"))

	resp, closed = get(t, client, server, port, "HELLO\r\n\r\n")
	closedOK = closedOK && closed
	t.Check("bad-request", resp.status == 400, lab.Msg("a request line of HELLO"), lab.Got(resp.summary()), lab.Want(lab.Text("400")),
		lab.Hint("a request line is METHOD PATH VERSION: answer 400 Bad Request to anything else"))

	t.Check("closes", closedOK, lab.Msg("the server kept a connection open after its response"),
		lab.Hint("HTTP/1.0 closes the connection after each response: conn.close() once the response is sent"))
	proc.Kill()
}

// response is an HTTP response as the lab read it.
type response struct {
	status  int
	headers map[string]string
	body    []byte
	raw     []byte
}

func (r response) header(name string) string { return r.headers[name] }

// summary is what a check shows of the response: its status and body.
func (r response) summary() lab.Text {
	if r.status == 0 {
		return lab.Text("no HTTP response: " + lab.Repr(clip(r.raw, 60)))
	}
	return lab.Text(fmt.Sprintf("%d with %s", r.status, lab.Repr(clip(r.body, 60))))
}

// get sends request on a connection of its own and reads the response until the server
// closes (closed) or its timeout.
func get(t *lab.T, client, server *lab.Host, port int, request string) (response, bool) {
	s := client.Socket(lab.AF_INET, lab.SOCK_STREAM)
	defer s.Close()
	s.SetTimeout(2 * time.Second)
	var raw []byte
	closed := false
	err := t.Try(func() {
		s.Connect(server.IP, port)
		s.SendAll([]byte(request))
		for len(raw) < 1<<20 {
			b := s.Recv(4096)
			if len(b) == 0 {
				closed = true
				return
			}
			raw = append(raw, b...)
		}
	})
	if err != nil && !lab.IsErrno(err, "timeout") && len(raw) == 0 {
		t.Say("the request failed: %v", err)
	}
	return parse(raw), closed
}

// parse reads an HTTP/1.x response: status line, headers (names lowercased), body.
func parse(raw []byte) response {
	r := response{raw: raw, headers: map[string]string{}}
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		return r
	}
	lines := strings.Split(string(head), "\r\n")
	f := strings.Fields(lines[0])
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") {
		return r
	}
	r.status, _ = strconv.Atoi(f[1])
	for _, l := range lines[1:] {
		if k, v, ok := strings.Cut(l, ":"); ok {
			r.headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	r.body = body
	return r
}

// newRand is the run's source of made-up names: seeded by seed, or afresh when it is 0.
func newRand(seed int) *mrand.Rand {
	if seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return mrand.New(mrand.NewPCG(uint64(b[0])<<56|uint64(b[1])<<48|uint64(b[2])<<40|uint64(b[3])<<32|uint64(b[4])<<24|uint64(b[5])<<16|uint64(b[6])<<8|uint64(b[7]), 1))
	}
	return mrand.New(mrand.NewPCG(uint64(seed), 2))
}

// word is n random lowercase hex digits.
func word(rng *mrand.Rand, n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return hex.EncodeToString(b)[:n]
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(nothing)"
	}
	lines := strings.Split(s, "\n")
	return lines[len(lines)-1]
}
