package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/controller/export"
	"github.com/socklab/socklab/controller/report"
	"github.com/socklab/socklab/controller/store"
	"github.com/socklab/socklab/controller/transcript"
)

func runsCommand() *cobra.Command {
	var db, controller string
	var limit int
	tok := tokenFlag{name: "token", env: envToken}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List past runs: id, lab, when, verdict, score",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var runs []store.Summary
			if controller != "" {
				token, err := tok.get(cmd)
				if err != nil {
					return err
				}
				c, err := dialController(controller, token)
				if err != nil {
					return err
				}
				defer c.Close()
				list, err := c.ListRuns(cmd.Context(), limit)
				if err != nil {
					return controllerError(controller, token, err)
				}
				for _, r := range list {
					runs = append(runs, store.Summary{ID: r.GetRunId(), Lab: r.GetLab(), Started: time.Unix(0, r.GetStartedUnixNs()),
						Verdict: r.GetVerdict(), Score: int(r.GetScore()), MaxScore: int(r.GetMaxScore()), Owner: r.GetUser()})
				}
			} else {
				if !keepsHistory(db) {
					fmt.Fprintln(cmd.ErrOrStderr(), "socklab: no run history is kept (--db none or SOCKLAB_DB=none): no runs to list")
					return nil
				}
				st, err := openStore(db, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				defer st.Close()
				if runs, err = st.Runs(cmd.Context(), limit); err != nil {
					return err
				}
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			user := func(string) string { return "" } // a controller's runs name who started them
			if controller != "" {
				user = func(u string) string { return "\t" + u }
			}
			fmt.Fprintln(w, "RUN\tLAB\tSTARTED\tVERDICT\tSCORE"+user("USER"))
			for _, r := range runs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d/%d%s\n", r.ID, r.Lab, r.Started.Local().Format("2006-01-02 15:04:05"), r.Verdict, r.Score, r.MaxScore, user(r.Owner))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "the run history's SQLite file (default $SOCKLAB_DB, else ~/.local/share/socklab/socklab.db)")
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many runs, newest first")
	cmd.Flags().StringVar(&controller, "controller", "", "list the runs of the socklab controller at this address")
	tok.register(cmd.Flags(), "the controller's token")
	cmd.AddCommand(pruneCommand())
	return cmd
}

func transcriptCommand() *cobra.Command {
	var db, format, color, controller string
	tok := tokenFlag{name: "token", env: envToken}
	cmd := &cobra.Command{
		Use:   "transcript RUN",
		Short: "Print a past run's transcript again, or export it (RUN: its id or a unique prefix)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			useCol, err := useColor(color, cmd.OutOrStdout())
			if err != nil {
				return usageError{err}
			}
			w, err := transcriptWriter(format, cmd.OutOrStdout(), useCol)
			if err != nil {
				return usageError{err}
			}
			defer func() { err = errors.Join(err, writeErr(w)) }()
			if controller != "" {
				token, err := tok.get(cmd)
				if err != nil {
					return err
				}
				c, err := dialController(controller, token)
				if err != nil {
					return err
				}
				defer c.Close()
				res, err := c.Transcript(cmd.Context(), args[0], stored{w, cmd.ErrOrStderr()})
				if err != nil {
					return controllerError(controller, token, err)
				}
				w.End(res) // the stored run's verdict is not this command's failure
				return nil
			}
			st, err := openStore(db, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := st.Result(cmd.Context(), args[0])
			if errors.Is(err, store.ErrNotFound) {
				return exitError{code: exitUsage, msg: err.Error() + ": see socklab runs"}
			}
			if err != nil {
				return err
			}
			// Streamed: memory does not grow with the run's length.
			return report.Replay(stored{w, cmd.ErrOrStderr()}, res, func(yield func(transcript.Entry) error) error {
				return st.Entries(cmd.Context(), res, yield)
			})
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "the run history's SQLite file (default $SOCKLAB_DB, else ~/.local/share/socklab/socklab.db)")
	cmd.Flags().StringVar(&format, "format", "text", "text, jsonl (the run's start, its protojson events and its end, one JSON object a line), "+
		"mermaid (a sequenceDiagram), shiviz (a log with vector clocks), chrome-trace (Trace Event JSON for ui.perfetto.dev) or junit (the checks as JUnit XML)")
	cmd.Flags().StringVar(&color, "color", "auto", "colour the transcript: auto, always or never")
	cmd.Flags().StringVar(&controller, "controller", "", "read the run from the socklab controller at this address")
	tok.register(cmd.Flags(), "the controller's token")
	return cmd
}

// transcriptWriter returns the writer of a --format of socklab transcript: the text and
// JSON lines a run prints live, or an export.
func transcriptWriter(format string, out io.Writer, color bool) (report.Writer, error) {
	if format == "text" || format == "jsonl" {
		return writer(format, out, color), nil
	}
	w, err := export.New(format, out)
	if err != nil {
		return nil, fmt.Errorf("--format %q: want text, jsonl, %s", format, strings.Join(export.Formats, ", "))
	}
	return w, nil
}

// writeErr returns the error an export met writing its output, if any.
func writeErr(w report.Writer) error {
	if e, ok := w.(export.Writer); ok {
		if err := e.Err(); err != nil {
			return fmt.Errorf("write the transcript: %w", err)
		}
	}
	return nil
}

// stored shows a run from the history as it was shown live: the same header and
// transcript on out; which run it was and when it ran go to note (stderr), as a live
// run's id does.
type stored struct {
	report.Writer
	note io.Writer
}

// Header names the stored run on note, then shows its header as the live run did.
func (s stored) Header(h transcript.Header) {
	fmt.Fprintf(s.note, "%s, %s\n", h.RunID, h.Started.Local().Format("2006-01-02 15:04:05"))
	s.Writer.Header(h)
}
