package main

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/runner"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/transcript"
	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

func runsCommand() *cobra.Command {
	var db, controller, token string
	var limit int
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List past runs: id, lab, when, verdict, score",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var runs []store.Summary
			if controller != "" {
				api, closeConn, err := dialController(controller, token)
				if err != nil {
					return err
				}
				defer closeConn()
				resp, err := api.ListRuns(cmd.Context(), &socklabv1.ListRunsRequest{Limit: uint32(limit)})
				if err != nil {
					return exitError{code: 3, msg: status.Convert(err).Message()}
				}
				for _, r := range resp.GetRuns() {
					runs = append(runs, store.Summary{ID: r.GetRunId(), Lab: r.GetLab(), Started: time.Unix(0, r.GetStartedUnixNs()),
						Verdict: r.GetVerdict(), Score: int(r.GetScore()), MaxScore: int(r.GetMaxScore())})
				}
			} else {
				st, err := openStore(db)
				if err != nil {
					return err
				}
				defer st.Close()
				if runs, err = st.Runs(cmd.Context(), limit); err != nil {
					return err
				}
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "RUN\tLAB\tSTARTED\tVERDICT\tSCORE")
			for _, r := range runs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d/%d\n", r.ID, r.Lab, r.Started.Local().Format("2006-01-02 15:04:05"), r.Verdict, r.Score, r.MaxScore)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "the run history's SQLite file (default $SOCKLAB_DB, else ~/.local/share/socklab/socklab.db)")
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many runs, newest first")
	cmd.Flags().StringVar(&controller, "controller", "", "list the runs of the socklab controller at this address")
	cmd.Flags().StringVar(&token, "token", "", "the controller's token (default $SOCKLAB_TOKEN)")
	return cmd
}

func transcriptCommand() *cobra.Command {
	var db, format, color, controller, token string
	cmd := &cobra.Command{
		Use:   "transcript RUN",
		Short: "Print a past run's transcript again (RUN: its id or a unique prefix)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "jsonl" {
				return usageError{fmt.Errorf("--format %q: want text or jsonl", format)}
			}
			useCol, err := useColor(color, cmd.OutOrStdout())
			if err != nil {
				return usageError{err}
			}
			if controller != "" {
				api, closeConn, err := dialController(controller, token)
				if err != nil {
					return err
				}
				defer closeConn()
				stream, err := api.GetTranscript(cmd.Context(), &socklabv1.GetTranscriptRequest{RunId: args[0]})
				if err != nil {
					return exitError{code: 3, msg: status.Convert(err).Message()}
				}
				err = showStream(cmd.OutOrStdout(), useCol, format, func() (*socklabv1.RunStarted, *socklabv1.Event, *socklabv1.RunFinished, error) {
					m, err := stream.Recv()
					return m.GetStarted(), m.GetEvent(), m.GetFinished(), err
				})
				var ee exitError
				if errors.As(err, &ee) && ee.msg == "" {
					return nil // the stored run's verdict is not this command's failure
				}
				if status.Code(err) == codes.NotFound || (errors.As(err, &ee) && strings.Contains(ee.msg, "no such run")) {
					return exitError{code: 2, msg: ee.msg}
				}
				return err
			}
			st, err := openStore(db)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := st.Result(cmd.Context(), args[0])
			if errors.Is(err, store.ErrNotFound) {
				return exitError{code: 2, msg: err.Error() + ": see socklab runs"}
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format == "jsonl" {
				j := report.NewJSONL(out)
				if err := st.Events(cmd.Context(), res.RunID, func(ev *socklabv1.Event) error {
					j.Entry(report.EventEntry(ev, res.Hosts))
					return j.Err()
				}); err != nil {
					return err
				}
				return nil
			}
			t := report.NewText(out, report.TextOptions{Color: useCol})
			var hosts []report.Host
			for role, addr := range res.Hosts {
				hosts = append(hosts, report.Host{Role: role, Address: addr})
			}
			sortHosts(hosts)
			t.Header(res.Lab, res.RunID+", "+res.Started.Local().Format("2006-01-02 15:04:05"), hosts)
			// Streamed: memory does not grow with the run's length.
			if err := st.Events(cmd.Context(), res.RunID, func(ev *socklabv1.Event) error {
				t.Entry(report.EventEntry(ev, res.Hosts))
				return nil
			}); err != nil {
				return err
			}
			t.Checks(checksOf(res.Checks))
			t.Footer(res.Verdict, res.Error)
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "the run history's SQLite file (default $SOCKLAB_DB, else ~/.local/share/socklab/socklab.db)")
	cmd.Flags().StringVar(&format, "format", "text", "text or jsonl (protojson events, one per line)")
	cmd.Flags().StringVar(&color, "color", "auto", "colour the transcript: auto, always or never")
	cmd.Flags().StringVar(&controller, "controller", "", "read the run from the socklab controller at this address")
	cmd.Flags().StringVar(&token, "token", "", "the controller's token (default $SOCKLAB_TOKEN)")
	return cmd
}

// checksOf turns result.json's checks back into transcript checks for the table.
func checksOf(files []runner.CheckFile) []transcript.Check {
	out := make([]transcript.Check, len(files))
	for i, c := range files {
		out[i] = transcript.Check{ID: c.ID, MaxPoints: c.MaxPoints, Passed: c.Passed, Message: c.Message,
			Reached: c.Passed || !strings.HasPrefix(c.Message, "not reached")}
	}
	return out
}

// sortHosts orders hosts by address (the lab's order on the local topology), then role.
func sortHosts(hosts []report.Host) {
	sort.Slice(hosts, func(i, j int) bool {
		ai, aj := netip.MustParseAddr(orZero(hosts[i].Address)), netip.MustParseAddr(orZero(hosts[j].Address))
		if ai != aj {
			return ai.Less(aj)
		}
		return hosts[i].Role < hosts[j].Role
	})
}

func orZero(a string) string {
	if _, err := netip.ParseAddr(a); err != nil {
		return "0.0.0.0"
	}
	return a
}
