package store

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	socklabv1 "github.com/socklab/socklab/proto/socklab/v1"
)

// PayloadCap is the most bytes of an event's payload the store keeps: a run's history is
// a record to read again, not a copy of its traffic. An agent keeps up to 64 KiB of each
// event's payload by default (1 MiB when a session asks), so a long run stored whole took
// hundreds of megabytes. The payload's true length is kept, and a transcript read back
// shows what was cut as it does for an agent's own cap: b'xxx...'... (70000 bytes).
const PayloadCap = 4 << 10

// payloadField is Event.payload, which capped cuts keeping payload_length.
var payloadField = (&socklabv1.Event{}).ProtoReflect().Descriptor().Fields().ByName("payload")

// capped returns ev as the store keeps it: its payload cut to limit bytes (payload_length
// keeps the true length), and any other bytes larger than limit anywhere in it (a spawn's
// files, say) cut likewise, which its note then says. ev itself is never changed: it is
// the run's record, which is also written elsewhere (--out); it is returned as it is when
// nothing needs cutting.
func capped(ev *socklabv1.Event, limit int) *socklabv1.Event {
	long := len(ev.GetPayload()) > limit
	other := cutBytes(ev.ProtoReflect(), limit, false)
	if !long && !other {
		return ev
	}
	c := proto.Clone(ev).(*socklabv1.Event)
	if long {
		c.PayloadLength = max(c.PayloadLength, uint64(len(c.Payload)))
		c.Payload = c.Payload[:limit]
	}
	if other {
		cutBytes(c.ProtoReflect(), limit, true)
		note := fmt.Sprintf("stored with data over %d bytes cut", limit)
		if c.Note != "" {
			note = c.Note + "; " + note
		}
		c.Note = note
	}
	return c
}

// cutBytes reports whether m holds bytes longer than limit in a field other than
// Event.payload (in its fields, lists, maps' values and nested messages) and, when apply
// is set, cuts each to limit bytes.
func cutBytes(m protoreflect.Message, limit int, apply bool) bool {
	found := false
	var fixes []func() // applied after Range: a message is not changed while it is ranged over
	long := func(v protoreflect.Value) bool { return len(v.Bytes()) > limit }
	short := func(v protoreflect.Value) protoreflect.Value { return protoreflect.ValueOfBytes(v.Bytes()[:limit]) }
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd == payloadField:
		case fd.IsMap():
			mv := v.Map()
			mv.Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
				switch fd.MapValue().Kind() {
				case protoreflect.BytesKind:
					if long(e) {
						found = true
						fixes = append(fixes, func() { mv.Set(k, short(e)) })
					}
				case protoreflect.MessageKind, protoreflect.GroupKind:
					found = cutBytes(e.Message(), limit, apply) || found
				}
				return true
			})
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				switch e := l.Get(i); fd.Kind() {
				case protoreflect.BytesKind:
					if long(e) {
						found = true
						fixes = append(fixes, func() { l.Set(i, short(e)) })
					}
				case protoreflect.MessageKind, protoreflect.GroupKind:
					found = cutBytes(e.Message(), limit, apply) || found
				}
			}
		case fd.Kind() == protoreflect.BytesKind:
			if long(v) {
				found = true
				fixes = append(fixes, func() { m.Set(fd, short(v)) })
			}
		case fd.Kind() == protoreflect.MessageKind, fd.Kind() == protoreflect.GroupKind:
			found = cutBytes(v.Message(), limit, apply) || found
		}
		return true
	})
	if apply {
		for _, fix := range fixes {
			fix()
		}
	}
	return found
}
