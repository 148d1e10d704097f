package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/socklab/socklab/controller/store"
)

// day is the unit of --keep-days.
const day = 24 * time.Hour

// retention returns the history kept by --keep-runs and --keep-days (0: no limit).
func retention(keepRuns, keepDays int) (store.Retention, error) {
	if keepRuns < 0 || keepDays < 0 {
		return store.Retention{}, fmt.Errorf("--keep-runs %d --keep-days %d: want 0 (no limit) or more", keepRuns, keepDays)
	}
	return store.Retention{Runs: keepRuns, Age: time.Duration(keepDays) * day}, nil
}

func pruneCommand() *cobra.Command {
	var db string
	var keepRuns, keepDays int
	cmd := &cobra.Command{
		Use:   "prune [--keep-runs N] [--keep-days D]",
		Short: "Delete old runs from a local history: all but the newest N, and those older than D days",
		Long: `Delete old runs, with their transcripts, from the history in --db: all but the newest
N runs (--keep-runs), and the runs that started more than D days ago (--keep-days). A run
not ended yet is never deleted. What is deleted is overwritten in the file, not merely
unlinked. A controller prunes its own history with the same flags.`,
		Example: `  socklab runs prune --keep-runs 1000
  socklab runs prune --keep-days 180 --db /var/lib/socklab/socklab.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			keep, err := retention(keepRuns, keepDays)
			if err != nil {
				return usageError{err}
			}
			if keepRuns == 0 && keepDays == 0 {
				return usageError{fmt.Errorf("give --keep-runs N or --keep-days D (at least 1): to drop every run, delete the database")}
			}
			st, err := openStore(db, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := st.Prune(cmd.Context(), keep)
			if err != nil {
				return err
			}
			runs := "runs"
			if n == 1 {
				runs = "run"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %d %s\n", n, runs)
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "the run history's SQLite file (default $SOCKLAB_DB, else ~/.local/share/socklab/socklab.db)")
	cmd.Flags().IntVar(&keepRuns, "keep-runs", 0, "keep the newest N runs, delete the older ones")
	cmd.Flags().IntVar(&keepDays, "keep-days", 0, "delete the runs that started more than D days ago")
	return cmd
}
