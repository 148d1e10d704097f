package runautograder_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/socklab/socklab/controller/topology"
)

// TestRunAutograder runs run_autograder as Gradescope and PrairieLearn run graders: in a
// container under Docker's default seccomp profile and capabilities, as an unprivileged
// user (and, as Gradescope does, as root), with no network but loopback. The kernel
// refuses namespaces there, so jobs run bare; the verdicts must be the same as anywhere.
func TestRunAutograder(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds socklab and runs it in containers")
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Skipf("needs a Docker engine: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Skipf("needs a Docker engine: none answers at %s: %v", cli.DaemonHost(), err)
	}

	// The image: socklab's agent image (FROM scratch: the binary, python3 and sh) with
	// run_autograder where Gradescope puts it and socklab where setup.sh leaves it.
	dir := t.TempDir()
	bin := filepath.Join(dir, "socklab")
	goBuild := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/socklab")
	goBuild.Dir = filepath.Join("..", "..")
	goBuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := goBuild.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/socklab: %v\n%s", err, out)
	}
	base, err := topology.Docker{Binary: bin}.BuildImage(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := randomHex(t)
	label := map[string]string{"socklab.test": run}
	tag := "socklab-autograder-test:" + run
	buildImage(ctx, t, cli, tag, label, map[string]string{
		"Dockerfile": "FROM " + base + "\n" +
			"COPY socklab /autograder/source/socklab\n" +
			"COPY run_autograder /autograder/run_autograder\n",
		"socklab":        bin,
		"run_autograder": "run_autograder",
	})
	t.Cleanup(func() {
		_, _ = cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true})
	})

	subs := filepath.Join("..", "..", "labs", "testdata", "submissions", "tcp-upper-server")
	checks := []string{"starts", "echo-upper", "multi-message", "second-client", "concurrent-clients", "no-spin", "restart"}
	for _, tc := range []struct {
		name, user, submission string
		prairieLearn           bool
		failed                 []string // the checks that fail
		output                 string   // in a failed check's output
	}{
		{name: "gradescope as an unprivileged user", user: "10001:10001", submission: "threaded"},
		{name: "prairielearn as an unprivileged user", user: "10001:10001", submission: "sequential", prairieLearn: true,
			failed: []string{"concurrent-clients"}, output: "hint:"},
		{name: "gradescope as root", user: "0:0", submission: "no-reuseaddr", failed: []string{"restart"}, output: "SO_REUSEADDR"},
		{name: "a syntax error", user: "10001:10001", submission: "syntax-error", failed: checks, output: "SyntaxError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subDir, resultsDir := "/autograder/submission", "/autograder/results"
			if tc.prairieLearn {
				subDir, resultsDir = "/grade/student", "/grade/results"
			}
			results := t.TempDir()
			if err := os.Chmod(results, 0o777); err != nil {
				t.Fatal(err)
			}
			abs, err := filepath.Abs(filepath.Join(subs, tc.submission))
			if err != nil {
				t.Fatal(err)
			}
			logs, code := runContainer(ctx, t, cli, &container.Config{
				Image: tag, User: tc.user, Labels: label, NetworkDisabled: true,
				Entrypoint: []string{"/autograder/run_autograder"},
			}, &container.HostConfig{
				Binds: []string{abs + ":" + subDir + ":ro", results + ":" + resultsDir},
				Tmpfs: map[string]string{"/tmp": "mode=1777"},
			})
			if code != 0 {
				t.Fatalf("run_autograder exited %d:\n%s", code, logs)
			}
			b, err := os.ReadFile(filepath.Join(results, "results.json"))
			if err != nil {
				t.Fatalf("no results.json: %v\n%s", err, logs)
			}
			failed := map[string]bool{}
			for _, c := range tc.failed {
				failed[c] = true
			}
			var got []string
			if tc.prairieLearn {
				var doc struct {
					Gradable bool    `json:"gradable"`
					Score    float64 `json:"score"`
					Tests    []struct {
						Name   string `json:"name"`
						Points int    `json:"points"`
						Output string `json:"output"`
					} `json:"tests"`
				}
				if err := json.Unmarshal(b, &doc); err != nil {
					t.Fatalf("results.json: %v\n%s", err, b)
				}
				if want := float64(len(checks)-len(tc.failed)) / float64(len(checks)); !doc.Gradable || doc.Score != want {
					t.Errorf("gradable %v, score %v; want true, %v\n%s", doc.Gradable, doc.Score, want, b)
				}
				for _, c := range doc.Tests {
					got = append(got, c.Name)
					if (c.Points == 0) != failed[c.Name] || failed[c.Name] && !strings.Contains(c.Output, tc.output) {
						t.Errorf("check %s: %d points, output %q; want failed %v with %q in it", c.Name, c.Points, c.Output, failed[c.Name], tc.output)
					}
				}
			} else {
				var doc struct {
					Score float64 `json:"score"`
					Tests []struct {
						Name     string  `json:"name"`
						Score    float64 `json:"score"`
						MaxScore float64 `json:"max_score"`
						Status   string  `json:"status"`
						Output   string  `json:"output"`
					} `json:"tests"`
				}
				if err := json.Unmarshal(b, &doc); err != nil {
					t.Fatalf("results.json: %v\n%s", err, b)
				}
				if want := float64(len(checks) - len(tc.failed)); doc.Score != want {
					t.Errorf("score %v, want %v\n%s", doc.Score, want, b)
				}
				for _, c := range doc.Tests {
					got = append(got, c.Name)
					if (c.Status == "failed") != failed[c.Name] || failed[c.Name] && !strings.Contains(c.Output, tc.output) {
						t.Errorf("check %s: %s, output %q; want failed %v with %q in it", c.Name, c.Status, c.Output, failed[c.Name], tc.output)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(checks, " ") {
				t.Errorf("checks %v, want %v", got, checks)
			}
		})
	}
	left, err := cli.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "socklab.test="+run))})
	if err != nil || len(left) > 0 {
		t.Errorf("containers left: %d (%v)", len(left), err)
	}
}

// buildImage builds tag from files: a name and either its content (the Dockerfile) or
// the path of a file to copy (from this folder, or absolute).
func buildImage(ctx context.Context, t *testing.T, cli *client.Client, tag string, labels, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, src := range files {
		b := []byte(src)
		mode := int64(0o644)
		if name != "Dockerfile" {
			var err error
			if b, err = os.ReadFile(src); err != nil {
				t.Fatal(err)
			}
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Labels: labels, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("build %s: %v", tag, err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bytes.Contains(out, []byte(`"errorDetail"`)) {
		t.Fatalf("build %s:\n%s", tag, out)
	}
}

// runContainer runs a container to its end (at most 3 minutes) and removes it; it
// returns what it printed and its exit code.
func runContainer(ctx context.Context, t *testing.T, cli *client.Client, cfg *container.Config, host *container.HostConfig) (string, int64) {
	t.Helper()
	c, err := cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
	}()
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var code int64 = -1
	okC, errC := cli.ContainerWait(waitCtx, c.ID, container.WaitConditionNotRunning)
	select {
	case ok := <-okC:
		code = ok.StatusCode
	case err := <-errC:
		t.Errorf("wait for the container: %v", err)
	}
	var out bytes.Buffer
	if r, err := cli.ContainerLogs(context.Background(), c.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true}); err == nil {
		_, _ = stdcopy.StdCopy(&out, &out, r)
		r.Close()
	}
	return out.String(), code
}

func randomHex(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
