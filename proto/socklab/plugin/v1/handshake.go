package pluginv1

// The go-plugin handshake of lab plugins. The controller starts a plugin with
// MagicCookieKey=MagicCookieValue in its environment and the protocol versions it speaks
// in PLUGIN_PROTOCOL_VERSIONS; the plugin answers on its stdout with one line,
// "1|VERSION|unix|SOCKET|grpc|CERT" (go-plugin's core protocol 1, then the version of
// this protocol it chose), and serves LabService there.
//
// Protocol versions, and why each changed:
//
//	1: the first: LabService (Describe, Run) served by the plugin; LabHostService
//	   (Perform, Say, Check, Sleep, ReadFiles) served by the controller through the
//	   go-plugin broker. Operations are socklab.v1.Operation as the agents take them.
//
// A change a plugin built for an older version cannot follow raises ProtocolVersion and
// adds a line here; the controller may keep speaking the older versions too.
const (
	// ProtocolVersion is the version of this protocol that this build speaks.
	ProtocolVersion = 1
	// MagicCookieKey and MagicCookieValue tell a lab plugin that the controller started
	// it: a plugin run by hand says so and exits, rather than waiting for a handshake.
	MagicCookieKey   = "SOCKLAB_LAB_PLUGIN"
	MagicCookieValue = "4f1c0a8e-socklab-lab-plugin"
	// PluginName is the name under which a plugin serves LabService in go-plugin's plugin
	// set.
	PluginName = "lab"
)
