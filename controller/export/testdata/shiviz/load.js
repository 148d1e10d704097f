// load.js reads a ShiViz log file as ShiViz's "load a file" does (its first line the
// parsing regex, anchored with ^ and $, its second the executions' delimiter, the rest the
// log) and builds the ModelGraph with ShiViz's own code, from the ShiViz checkout
// (github.com/DistributedClocks/shiviz) whose folder $SOCKLAB_SHIVIZ names: its js/util,
// js/model and js/graph files. ModelGraph rejects clocks that do not start at 1 or
// grow by 1 on a host, name unknown hosts or events not yet had, or order events in a
// cycle. It prints "ok: N events" or "error: ..." and exits non-zero on an error.
const fs = require("fs");
const vm = require("vm");
const ctx = { console };
vm.createContext(ctx);
for (const f of ["exception.js", "util.js", "regexp.js", "logEvent.js", "vectorTimestamp.js", "parser.js",
                 "abstractNode.js", "graphEvent.js", "abstractGraph.js", "modelNode.js", "modelGraph.js"]) {
  const dir = ["js/util", "js/model", "js/graph"].map((d) => process.env.SOCKLAB_SHIVIZ + "/" + d).find((d) => fs.existsSync(d + "/" + f));
  if (!dir) { console.log("error: " + f + " is not in $SOCKLAB_SHIVIZ/js"); process.exit(2); }
  vm.runInContext(fs.readFileSync(dir + "/" + f, "utf8"), ctx, { filename: f });
}
ctx.text = fs.readFileSync(0, "utf8");
const out = vm.runInContext(`
  (function() {
    var lines = text.split("\\n", 2);
    var regexp = new NamedRegExp("^" + lines[0] + "$", "m");
    var delimiter = lines[1].trim() ? new NamedRegExp("^" + lines[1].trim() + "$", "m") : null;
    var log = text.substr(text.indexOf("\\n", text.indexOf("\\n") + 1) + 1);
    try {
      var parser = new LogParser(log, delimiter, regexp);
      var events = parser.getLogEvents(parser.getLabels()[0]);
      var graph = new ModelGraph(events);
      return "ok: " + events.length + " events, hosts " + graph.getHosts().sort().join(",");
    } catch (e) {
      return "error: " + (e.getMessage ? e.getMessage() : String(e));
    }
  })()`, ctx);
console.log(out);
process.exit(out.startsWith("ok: ") ? 0 : 1);
