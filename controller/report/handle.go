package report

import socklabv1 "github.com/socklab/socklab/proto/socklab/v1"

// Handle names the socket (s3) or process (p3) an event acted on, as the text
// transcript's handle column does; "" for none and for the call that made it (socket,
// spawn), whose outcome names it.
func Handle(ev *socklabv1.Event) string { return handleName(ev) }

// Raised reports whether the event's call raised its error, as Python would, rather than
// returning it (connect_ex returns its errno).
func Raised(ev *socklabv1.Event) bool { return raised(ev) }
