// ladder.js draws a socklab run as a ladder (sequence) diagram in SVG: one lifeline per
// host, one row per step, one arrow per message. It takes the run as a stream of records
// (see htmlreport.Record), one at a time, so the same code draws a finished run
// (report.html) and a run as it goes (the live view):
//
//   var ladder = SocklabLadder.create(element, {follow: true});
//   ladder.add({"header": {...}});   // then {"step": ...}, {"arrow": ...}, {"gap": ...}
//   ladder.end({...});               // or ladder.add({"end": {...}})
//
// With follow, each new step is brought into view (a live run), until the reader pans
// or zooms. The object create returns also counts what it drew (steps(), arrows(),
// hosts()) and moves the view (fit(), reset(), reveal(index), tall(on)).
//
// It needs nothing but the DOM: no network, no library. Every text from the run is set
// as text (textContent), never parsed as HTML.
(function (global) {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var L = { left: 64, top: 58, col: 270, row: 32, pad: 40 };
  var HOST_COLORS = ["#0b7285", "#862e9c", "#1864ab", "#2b8a3e", "#c2255c", "#5c940d", "#e67700", "#495057"];
  var LABEL_CHARS = 40;      // a step's label, on a lifeline with another to its right
  var LABEL_CHARS_LAST = 58; // on the last one, which has room beyond its column
  var PREVIEW_CHARS = 22;
  var MAX_TALL = 30000; // the most pixels "Full height" makes the diagram

  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function html(tag, cls, text, parent) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function cut(s, n) {
    s = String(s || "");
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  function seconds(ns) {
    return (ns / 1e9).toFixed(3) + "s";
  }

  function duration(ns) {
    if (!ns) return "0";
    if (ns < 1e3) return ns + " ns";
    if (ns < 1e6) return (ns / 1e3).toFixed(1) + " µs";
    if (ns < 1e9) return (ns / 1e6).toFixed(2) + " ms";
    return (ns / 1e9).toFixed(3) + " s";
  }

  function plural(n, one, many) {
    return n.toLocaleString("en") + " " + (n === 1 ? one : many);
  }

  // bytesOf decodes a record's base64 payload.
  function bytesOf(b64) {
    if (!b64) return new Uint8Array(0);
    var s = atob(b64);
    var out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  // pyBytes writes bytes as Python's repr does: b'hi\n'.
  function pyBytes(b, max) {
    var quote = "'";
    var hasSingle = false, hasDouble = false;
    for (var i = 0; i < b.length; i++) {
      if (b[i] === 39) hasSingle = true;
      if (b[i] === 34) hasDouble = true;
    }
    if (hasSingle && !hasDouble) quote = '"';
    var out = "b" + quote;
    for (var j = 0; j < b.length; j++) {
      if (max && out.length >= max) return out + quote + "…";
      var c = b[j];
      if (c === 92) out += "\\\\";
      else if (c === 10) out += "\\n";
      else if (c === 13) out += "\\r";
      else if (c === 9) out += "\\t";
      else if (c === quote.charCodeAt(0)) out += "\\" + quote;
      else if (c < 32 || c >= 127) out += "\\x" + (c < 16 ? "0" : "") + c.toString(16);
      else out += String.fromCharCode(c);
    }
    return out + quote;
  }

  // hexDump writes bytes as rows of width (16 unless given): offset, hex, text
  // (printable ASCII, else ".").
  function hexDump(b, width) {
    width = width || 16;
    var rows = [];
    for (var off = 0; off < b.length; off += width) {
      var hex = "", text = "";
      for (var i = 0; i < width; i++) {
        if (off + i < b.length) {
          var c = b[off + i];
          hex += (c < 16 ? "0" : "") + c.toString(16) + " ";
          text += c >= 32 && c < 127 ? String.fromCharCode(c) : ".";
        } else {
          hex += "   ";
        }
        if (i === 7 && width > 8) hex += " ";
      }
      rows.push(("0000" + off.toString(16)).slice(-4) + "  " + hex + " " + text);
    }
    return rows.join("\n");
  }

  var ladders = 0; // ladders made in this page, for their SVG ids

  // lostWhy says why a datagram's arrow has no end.
  function lostWhy(a) {
    return a.outside ? " (no recv of the lab got it: it went to an address none of the lab's sockets had, a program's?)" : " (lost: no recv got it)";
  }

  function Ladder(root, opts) {
    this.root = root;
    this.follow = !!(opts && opts.follow);
    this.hosts = [];
    this.hostIndex = Object.create(null); // role -> lifeline, whatever the role's name
    this.steps = Object.create(null);     // index -> step record with .row, .x, .y
    this.id = "socklab-ladder-" + (++ladders); // the prefix of its SVG ids
    this.rows = 0;        // rows drawn: steps, and two for a gap
    this.stepCount = 0;
    this.arrowCount = 0;
    this.view = { k: 1, x: 0, y: 0 };
    this.build();
  }

  Ladder.prototype.build = function () {
    var root = this.root;
    root.textContent = "";
    root.classList.add("socklab-ladder");
    this.head = html("header", "run-header", null, root);
    this.title = html("h1", "run-title", "socklab run", this.head);
    this.summary = html("p", "run-summary", null, this.head);
    this.meta = html("p", "run-meta", null, this.head);
    this.notice = html("p", "run-notice", null, this.head);
    this.notice.hidden = true;

    var bar = html("div", "toolbar", null, root);
    var self = this;
    function button(label, title, fn, cls) {
      var b = html("button", cls || "", label, bar);
      b.type = "button";
      b.title = title;
      b.addEventListener("click", fn);
      return b;
    }
    button("+", "Zoom in", function () { self.zoomBy(1.25); }, "zoom-in");
    button("−", "Zoom out", function () { self.zoomBy(0.8); }, "zoom-out");
    button("Fit", "Fit the width of the diagram", function () { self.fit(); }, "zoom-fit");
    button("1:1", "Actual size, back to the top", function () { self.reset(); }, "zoom-reset");
    this.tallButton = button("Full height", "Show the whole diagram at once, the page scrolling (again: back to a window)", function () { self.setTall(!self.tall); }, "zoom-tall");
    html("span", "hint", "wheel: zoom · drag: pan · hover an arrow: its bytes · click a step: its details", bar);
    var legend = html("span", "legend", null, bar);
    [["connect", "connect"], ["data", "data"], ["fin", "FIN"], ["rst", "RST"], ["datagram", "datagram"], ["lost", "lost"]].forEach(function (k) {
      html("span", "key key-" + k[0], k[1], legend);
    });

    var body = html("div", "ladder-body", null, root);
    this.box = html("div", "diagram", null, body);
    this.svg = el("svg", { "class": "ladder-svg", role: "group", "aria-label": "ladder diagram of the run: a lifeline per host, an arrow per message" }, this.box);
    var defs = el("defs", {}, this.svg);
    ["connect", "data", "fin", "rst", "datagram", "lost"].forEach(function (k) {
      var m = el("marker", { id: self.id + "-head-" + k, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
      el("path", { d: "M0,0 L10,5 L0,10 z", "class": "head head-" + k }, m);
    });
    el("rect", { "class": "bg", x: 0, y: 0, width: "100%", height: "100%" }, this.svg);
    this.g = el("g", { "class": "content" }, this.svg);
    this.gBands = el("g", { "class": "bands" }, this.g);
    this.gLines = el("g", { "class": "lifelines" }, this.g);
    this.gSteps = el("g", { "class": "steps" }, this.g);
    this.gArrows = el("g", { "class": "arrows" }, this.g); // above the steps: hover reaches them
    this.gHeads = el("g", { "class": "heads" }, this.svg);
    var th = el("text", { "class": "time-head", x: 4, y: 38 }, this.gHeads);
    th.textContent = "start";
    el("title", {}, th).textContent = "when each call started, on the run's clock (seconds since it began); rows are in the order the run is shown, so a later row may have started earlier";
    this.tip = html("div", "tooltip", null, this.box);
    this.tip.hidden = true;

    this.details = html("aside", "details", null, body);
    this.details.id = "details";
    html("p", "details-empty", "Click a step (a dot on a lifeline) or an arrow to see its call, result, errno, duration and the lab line that made it.", this.details);

    this.checks = html("section", "checks", null, root);
    this.checks.id = "checks";

    this.listen();
    this.apply();
  };

  // add takes the next record of the run.
  Ladder.prototype.add = function (rec) {
    if (rec.header) this.header(rec.header);
    else if (rec.step) this.step(rec.step);
    else if (rec.arrow) this.arrow(rec.arrow);
    else if (rec.gap) this.gap(rec.gap);
    else if (rec.end) this.end(rec.end);
  };

  Ladder.prototype.header = function (h) {
    this.title.textContent = (h.subject ? h.subject + " · " : "") + (h.lab || "socklab run");
    this.summary.textContent = h.summary || "";
    var parts = [];
    if (h.run_id) parts.push(h.run_id);
    if (h.started && h.started.indexOf("0001-") !== 0) parts.push("started " + h.started.replace("T", " ").replace(/\.\d+Z$/, "Z"));
    var params = Object.keys(h.params || {}).sort().map(function (k) { return k + "=" + JSON.stringify(h.params[k]); });
    if (params.length) parts.push(params.join(" "));
    this.meta.textContent = parts.join(" · ");
    var self = this;
    (h.hosts || []).forEach(function (host) { self.host(host.role, host.address); });
    // Lifelines wider than the view (four hosts and more): shrink to fit, down to 0.7.
    var r = this.svg.getBoundingClientRect();
    var need = L.left + (this.hosts.length - 1) * L.col + 200;
    if (r.width > 0 && need > r.width) {
      this.view = { k: Math.max(0.7, r.width / need), x: 0, y: 0 };
      this.apply();
    }
    this.declared = h.checks || [];
    this.renderChecks(null);
  };

  // host adds a lifeline (once per role).
  Ladder.prototype.host = function (role, address) {
    if (role in this.hostIndex) return this.hostIndex[role];
    var i = this.hosts.length;
    var x = L.left + i * L.col + 20;
    var color = HOST_COLORS[i % HOST_COLORS.length];
    var line = el("line", { "class": "lifeline", x1: x, x2: x, y1: L.top, y2: L.top + L.row, stroke: color, "data-host": role }, this.gLines);
    var head = el("g", { "class": "host-head", "data-host": role }, this.gHeads);
    el("rect", { x: x - 16, y: 6, width: L.col - 24, height: 38, rx: 5, fill: color }, head);
    var t = el("text", { x: x - 8, y: 22, "class": "host-role" }, head);
    t.textContent = cut(role, 28);
    var a = el("text", { x: x - 8, y: 37, "class": "host-addr" }, head);
    a.textContent = address || "";
    this.hosts.push({ role: role, address: address, x: x, color: color, line: line });
    this.hostIndex[role] = i;
    this.grow();
    return i;
  };

  // hostAt returns the lifeline of the host with the address of hostPort ("127.0.0.2:80").
  Ladder.prototype.hostAt = function (hostPort) {
    if (!hostPort) return undefined;
    var host = hostPort.replace(/^\[/, "").replace(/\]?:\d+$/, "");
    for (var i = 0; i < this.hosts.length; i++) if (this.hosts[i].address === host) return i;
    return undefined;
  };

  Ladder.prototype.width = function () {
    return L.left + Math.max(1, this.hosts.length) * L.col + 120;
  };

  Ladder.prototype.height = function () {
    return L.top + (this.rows + 1) * L.row + L.pad;
  };

  Ladder.prototype.yOf = function (row) {
    return L.top + (row + 1) * L.row;
  };

  // grow stretches the lifelines and the background to the rows drawn so far.
  Ladder.prototype.grow = function () {
    var y2 = this.yOf(this.rows) + 4;
    for (var i = 0; i < this.hosts.length; i++) this.hosts[i].line.setAttribute("y2", y2);
    var h = Math.min(this.height(), Math.max(320, window.innerHeight * 0.78));
    if (this.tall) h = Math.min(this.height() * this.view.k + Math.max(0, this.view.y), MAX_TALL);
    if (this.boxHeight !== h) {
      this.boxHeight = h;
      this.box.style.height = h + "px";
    }
  };

  // band draws a row (or rows) across every lifeline: narration, a note, a failed check,
  // the steps left out.
  Ladder.prototype.band = function (row, cls, text, title, rows) {
    rows = rows || 1;
    var y = this.yOf(row);
    var w = this.width() - L.left + 10;
    el("rect", { "class": "band " + cls, x: L.left - 6, y: y - L.row / 2 - 2, width: w, height: rows * L.row - 2, rx: 3 }, this.gBands);
    var t = el("text", { "class": "band-text " + cls, x: L.left + 4, y: y + 4 + (rows - 1) * L.row / 2, tabindex: cls === "band-gap" ? null : 0 }, this.gSteps);
    t.textContent = text;
    if (title) el("title", {}, t).textContent = title;
    return t;
  };

  Ladder.prototype.step = function (s) {
    if (s.kind === "hidden") return;
    s.row = this.rows++;
    this.stepCount++;
    s.y = this.yOf(s.row);
    this.steps[s.index] = s;
    var self = this;
    var time = el("text", { "class": "time", x: 4, y: s.y + 4 }, this.gSteps);
    time.textContent = seconds(s.at_ns || 0);
    var target;
    if (s.kind === "say" || s.kind === "note" || s.kind === "dropped") {
      var mark = s.kind === "say" ? "» " : "! ";
      target = this.band(s.row, "band-" + s.kind, mark + cut(s.text, 120), s.text);
    } else if (s.kind === "failed") {
      target = this.band(s.row, "band-failed", "✗ " + s.check + " failed: " + cut(s.text, 100), s.text);
    } else {
      var hi = this.host(s.host, "");
      var h = this.hosts[hi];
      s.x = h.x;
      var g = el("g", { "class": "step step-" + s.kind + (s.errno && s.raised ? " step-error" : ""), "data-index": s.index, "data-host": s.host, tabindex: 0 }, this.gSteps);
      el("circle", { cx: s.x, cy: s.y, r: 4.5, fill: h.color }, g);
      var call = (s.handle ? s.handle + "." : "") + (s.call || s.op || "");
      var out = s.raised && s.errno ? s.errno.name : s.result && s.result !== "None" ? s.result : "";
      var sep = s.raised ? " !! " : " → ";
      var label = out ? call + sep + (s.raised ? s.result : out) : call;
      var room = hi === this.hosts.length - 1 ? LABEL_CHARS_LAST : LABEL_CHARS;
      var shown = call;
      if (out) { // keep the outcome in sight: cut the call first
        shown = call.length + sep.length + out.length > room ? cut(call, Math.max(14, room - sep.length - out.length)) : call;
        shown += sep + out;
      }
      var t = el("text", { "class": "step-label", x: s.x + 8, y: s.y - 5 }, g);
      t.textContent = cut(shown, room);
      s.label = t;
      el("title", {}, g).textContent = label + (s.pos ? "  (" + s.pos + ")" : "");
      // A wide, invisible target, so that a click need not hit the dot.
      var w = Math.min(t.textContent.length * 6.7 + 18, L.col * 1.6);
      el("rect", { "class": "hit", x: s.x - 8, y: Math.min(s.y, +t.getAttribute("y")) - 14, width: w, height: 24 }, g);
      target = g;
    }
    target.addEventListener("click", function (ev) {
      if (self.dragged) return;
      ev.stopPropagation();
      self.select(s, null);
    });
    target.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        self.select(s, null);
      }
    });
    this.grow();
    if (this.follow) this.reveal(s.index);
  };

  Ladder.prototype.arrow = function (a) {
    var from = this.steps[a.send];
    if (!from || from.x === undefined) return;
    var to = a.recv >= 0 ? this.steps[a.recv] : null;
    if (a.recv >= 0 && (!to || to.x === undefined)) return;
    this.arrowCount++;
    (from.arrows = from.arrows || []).push(a);
    if (to && to !== from) (to.arrows = to.arrows || []).push(a);
    var self = this;
    var g = el("g", { "class": "arrow arrow-" + a.kind + (a.outside ? " arrow-outside" : ""), "data-kind": a.kind, "data-send": a.send, "data-recv": a.recv }, this.gArrows);
    var x1 = from.x, y1 = from.y, x2, y2, d;
    if (to) {
      x2 = to.x;
      y2 = to.y;
      if (x1 === x2) { // one host to itself: a loop to the right
        d = "M" + x1 + "," + y1 + " C" + (x1 + 70) + "," + y1 + " " + (x2 + 70) + "," + y2 + " " + (x2 + 6) + "," + y2;
      } else {
        x2 += x2 > x1 ? -6 : 6;
        d = "M" + x1 + "," + y1 + " L" + x2 + "," + y2;
      }
    } else { // lost: toward the host it was sent to (else the next lifeline), ending in a cross
      var toward = this.hostAt(from.peer);
      var dir = toward !== undefined && toward !== this.hostIndex[a.from] ? (toward > this.hostIndex[a.from] ? 1 : -1) :
        this.hostIndex[a.from] < this.hosts.length - 1 ? 1 : -1;
      x2 = x1 + dir * L.col * 0.55;
      y2 = y1 + L.row * 0.8;
      d = "M" + x1 + "," + y1 + " L" + x2 + "," + y2;
    }
    // A label sits above its dot, out of the way of an arrow that leaves downwards; an
    // arrow that leaves upwards moves it below.
    if (to && to.y < from.y) this.labelBelow(from);
    if (to && from.y < to.y) this.labelBelow(to);
    el("path", { "class": "line", d: d, "marker-end": a.kind === "lost" ? null : "url(#" + this.id + "-head-" + a.kind + ")" }, g);
    if (a.kind === "lost" && a.outside) { // to a socket not in the transcript: an open end
      el("circle", { "class": "open-end", cx: x2, cy: y2, r: 4 }, g);
    } else if (a.kind === "lost") {
      el("path", { "class": "cross", d: "M" + (x2 - 5) + "," + (y2 - 5) + " l10,10 m0,-10 l-10,10" }, g);
    }
    var label = this.arrowLabel(a);
    if (label) {
      var mx = (x1 + x2) / 2, my = (y1 + y2) / 2 - 4;
      if (to && x1 === x2) { mx = x1 + 58; my = (y1 + y2) / 2; }
      var t = el("text", { "class": "arrow-label", x: mx, y: my, "text-anchor": "middle" }, g);
      t.textContent = label;
    }
    el("path", { "class": "arrow-hit", d: d }, g);
    g.addEventListener("mousemove", function (ev) { self.showTip(a, ev); });
    g.addEventListener("mouseleave", function () { self.tip.hidden = true; });
    g.addEventListener("click", function (ev) {
      if (self.dragged) return;
      ev.stopPropagation();
      self.select(from, a);
    });
  };

  // labelBelow moves a step's label (and the target around it) below its dot.
  Ladder.prototype.labelBelow = function (s) {
    if (!s.label || s.below) return;
    s.below = true;
    s.label.setAttribute("y", s.y + 13);
    var hit = s.label.parentNode.querySelector(".hit");
    if (hit) hit.setAttribute("y", s.y - 12);
  };

  // reveal pans the diagram so that step index is in view, and reports whether it is
  // drawn.
  Ladder.prototype.reveal = function (index) {
    var s = this.steps[index];
    if (!s) return false;
    var r = this.svg.getBoundingClientRect();
    var v = this.view;
    var y = s.y * v.k + v.y;
    if (y < L.top + 20) { // above: a third of the way down, never past the top
      v.y = Math.min(0, r.height / 3 - s.y * v.k);
      this.apply();
    } else if (y > r.height - 20) { // below: show it near the bottom, what led to it above
      v.y = r.height * 0.8 - s.y * v.k;
      this.apply();
    }
    return true;
  };

  Ladder.prototype.arrowLabel = function (a) {
    switch (a.kind) {
      case "connect": return "connect #" + a.conn;
      case "fin": return "FIN";
      case "rst": return "RST";
      case "lost": return (a.outside ? "to a program? " : "lost ") + pyBytes(bytesOf(a.payload), PREVIEW_CHARS);
      default:
        var b = bytesOf(a.payload);
        return pyBytes(b, PREVIEW_CHARS) + (a.bytes > b.length || a.bytes > 6 ? " (" + a.bytes + " B)" : "");
    }
  };

  Ladder.prototype.gap = function (g) {
    var row = this.rows;
    this.rows += 2;
    var text = "… " + plural(g.steps, "step", "steps") + " not drawn (steps " + g.from + " to " + g.to + ", " + plural(g.arrows, "arrow", "arrows") + "): this page draws a long run's first and last steps only";
    this.band(row, "band-gap", text, text, 2);
    this.gapInfo = g;
    this.grow();
  };

  Ladder.prototype.end = function (e) {
    var verdict = html("span", "verdict verdict-" + e.verdict, e.verdict.toUpperCase() + " " + e.score + "/" + e.max_score);
    this.title.appendChild(document.createTextNode(" "));
    this.title.appendChild(verdict);
    var notes = [];
    if (e.error) notes.push(e.error);
    if (this.gapInfo) {
      notes.push("This run has " + plural(e.steps, "step", "steps") + " and " + plural(e.arrows, "arrow", "arrows") + "; the diagram draws its first and last steps and leaves out " +
        plural(this.gapInfo.steps, "step", "steps") + " between them (steps " + this.gapInfo.from + " to " + this.gapInfo.to + ").");
    }
    if (notes.length) {
      this.notice.hidden = false;
      this.notice.textContent = notes.join(" ");
      if (e.error) this.notice.classList.add("run-error");
    }
    this.renderChecks(e);
  };

  // renderChecks writes the checks table: declared ones while the run goes, their
  // outcomes (points, message, hints, lab line) once it ended, then for each failed
  // check the hosts' kernel socket tables when it failed.
  Ladder.prototype.renderChecks = function (e) {
    var box = this.checks;
    box.textContent = "";
    var checks = e ? e.checks : this.declared;
    if (!checks || !checks.length) return;
    html("h2", null, "Checks", box);
    var table = html("table", "checks-table", null, box);
    var head = html("tr", null, null, html("thead", null, null, table));
    ["Check", "Points", "Result", "What happened", "Lab line"].forEach(function (h) { html("th", null, h, head); });
    var tbody = html("tbody", null, null, table);
    var self = this;
    checks.forEach(function (c) {
      var state = !e ? "pending" : c.passed ? "pass" : c.reached ? "fail" : "unreached";
      var tr = html("tr", "check check-" + state, null, tbody);
      tr.dataset.check = c.id;
      var id = html("td", "check-id", c.id, tr);
      if (c.description) html("div", "check-desc", c.description, id);
      html("td", "check-points", e ? c.points + "/" + c.max_points : "–/" + c.max_points, tr);
      html("td", "check-state", { pending: "…", pass: "PASS", fail: "FAIL", unreached: "NOT REACHED" }[state], tr);
      var what = html("td", "check-message", c.passed ? "" : c.message || "", tr);
      var hints = c.hints || {};
      Object.keys(hints).sort().forEach(function (lang) {
        var h = html("div", "check-hint", null, what);
        html("b", null, "hint" + (Object.keys(hints).length > 1 ? " (" + lang + ")" : "") + ": ", h);
        h.appendChild(document.createTextNode(hints[lang]));
      });
      html("td", "check-pos", c.pos || "", tr);
      var failure = e && (e.failures || []).filter(function (f) { return f.check === c.id; })[0];
      if (failure && self.steps[failure.index]) {
        tr.classList.add("check-link");
        tr.title = "show where it failed";
        tr.addEventListener("click", function () {
          self.reveal(failure.index);
          self.select(self.steps[failure.index], null);
          self.box.scrollIntoView({ block: "nearest" });
        });
      }
    });
    if (!e || !e.failures || !e.failures.length) return;
    html("h2", null, "Kernel socket tables when checks failed", box);
    html("p", "snapshot-help", "Each host's sockets as ss showed them when the check failed. TIME_WAIT, CLOSE_WAIT and a listener whose accept queue (Recv-Q) is over the backlog its listen call asked for are marked.", box);
    e.failures.forEach(function (f) { self.snapshot(f, box); });
  };

  Ladder.prototype.snapshot = function (f, parent) {
    var sec = html("div", "snapshot", null, parent);
    sec.dataset.check = f.check;
    var h = html("h3", null, "✗ " + f.check + " at " + seconds(f.at_ns || 0) + (f.pos ? " (" + f.pos + ")" : ""), sec);
    h.title = f.text || "";
    if (f.text) html("p", "snapshot-message", f.text, sec);
    (f.snapshot || []).forEach(function (hs) {
      html("h4", null, hs.role, sec);
      if (hs.error) {
        html("p", "snapshot-error", "could not read the table: " + hs.error, sec);
        return;
      }
      if (!hs.sockets || !hs.sockets.length) {
        html("p", "snapshot-empty", "no sockets", sec);
        return;
      }
      var t = html("table", "ss-table", null, sec);
      var hr = html("tr", null, null, html("thead", null, null, t));
      ["Proto", "State", "Local", "Peer", "Recv-Q", "Send-Q", ""].forEach(function (c) { html("th", null, c, hr); });
      var tb = html("tbody", null, null, t);
      hs.sockets.forEach(function (s) {
        var mark = "";
        if (s.state === "TIME_WAIT") mark = "time-wait";
        else if (s.state === "CLOSE_WAIT") mark = "close-wait";
        else if (s.state === "LISTEN" && s.backlog !== undefined && s.recv_q > s.backlog) mark = "backlog-full";
        var tr = html("tr", mark ? "ss-" + mark : null, null, tb);
        [s.protocol, s.state, s.local, s.peer || "*", s.recv_q, s.send_q].forEach(function (v) { html("td", null, String(v), tr); });
        var why = { "time-wait": "TIME_WAIT: this end closed first", "close-wait": "CLOSE_WAIT: the peer closed, this end has not" }[mark] || "";
        if (s.state === "LISTEN" && s.backlog !== undefined) {
          why = (mark ? "backlog full: " : "") + s.recv_q + " waiting to be accepted, listen(" + s.backlog + ")";
        }
        html("td", "ss-mark", why, tr);
      });
    });
  };

  // select shows a step's details (and an arrow's, when one was clicked).
  Ladder.prototype.select = function (s, a) {
    var prev = this.svg.querySelectorAll(".selected");
    for (var i = 0; i < prev.length; i++) prev[i].classList.remove("selected");
    var mark = this.svg.querySelector('.step[data-index="' + s.index + '"]');
    if (mark) mark.classList.add("selected");
    var d = this.details;
    d.textContent = "";
    d.dataset.index = s.index;
    var title = s.kind === "failed" ? "Check " + s.check + " failed" : s.host ? s.host + " · step " + s.index : "step " + s.index;
    html("h2", null, title, d);
    var dl = html("dl", null, null, d);
    function row(k, v, cls) {
      if (v === undefined || v === null || v === "") return;
      html("dt", null, k, dl);
      html("dd", cls || null, String(v), dl);
    }
    if (s.call) row("call", (s.handle ? s.handle + "." : "") + s.call, "call");
    if (s.result !== undefined && s.kind !== "failed") row(s.raised ? "raised" : "result", s.result, "result" + (s.raised ? " raised" : ""));
    if (s.errno) row("errno", s.errno.name + (s.errno.number ? " [Errno " + s.errno.number + "]" : "") + (s.errno.message ? " " + s.errno.message : ""), "errno");
    row("at", seconds(s.at_ns || 0), "at");
    if (s.kind === "op" || s.kind === "process") row("duration", duration(s.duration_ns || 0), "duration");
    row("lab line", s.pos, "pos");
    if (s.conn) row("connection", "#" + s.conn, "conn");
    row("local", s.local, "local");
    row("peer", s.peer, "peer");
    if (s.note) row("note", s.note, "note");
    if (s.text) row(s.kind === "failed" ? "message" : "text", s.text, "text");
    // The arrow clicked, else the step's own (at most a few): what crossed, and the
    // step at the other end.
    var self = this;
    (a ? [a] : (s.arrows || []).slice(0, 4)).forEach(function (a) {
      html("h3", null, a.kind + " arrow: " + a.from + (a.to ? " → " + a.to : lostWhy(a)), d);
      self.payload(a, d, 8); // the panel is narrow
      var mine = a.send === s.index;
      var other = self.steps[mine ? a.recv : a.send];
      if (other && other.call) {
        var dl2 = html("dl", null, null, d);
        html("dt", null, mine ? "got by" : "sent by", dl2);
        html("dd", mine ? "recv-call" : "send-call", other.host + ": " + (other.handle ? other.handle + "." : "") + other.call + " → " + (other.result || ""), dl2);
      }
    });
    if (s.kind === "failed" && s.snapshot) this.snapshot(s, d);
  };

  // payload writes an arrow's bytes as captured: Python's repr, then a hex dump of
  // width bytes a row.
  Ladder.prototype.payload = function (a, parent, width) {
    var b = bytesOf(a.payload);
    if (!a.bytes && !b.length) return;
    var note = plural(a.bytes || b.length, "byte", "bytes");
    if (a.bytes > b.length) note += " (the first " + b.length + " captured)";
    html("p", "payload-size", note, parent);
    if (!b.length) return;
    html("pre", "payload-text", pyBytes(b, 0), parent);
    html("pre", "payload-hex", hexDump(b, width), parent);
  };

  Ladder.prototype.showTip = function (a, ev) {
    var tip = this.tip;
    if (tip.dataset.arrow !== a.send + ":" + a.recv) {
      tip.textContent = "";
      tip.dataset.arrow = a.send + ":" + a.recv;
      html("div", "tip-title", a.kind + ": " + a.from + (a.to ? " → " + a.to : lostWhy(a)) + (a.conn ? " · connection #" + a.conn : ""), tip);
      this.payload(a, tip);
    }
    tip.hidden = false;
    var r = this.box.getBoundingClientRect();
    var x = ev.clientX - r.left + 14, y = ev.clientY - r.top + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > r.width) x = Math.max(0, ev.clientX - r.left - w - 14);
    if (y + h > r.height) y = Math.max(0, ev.clientY - r.top - h - 14);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  };

  // Zoom and pan.

  Ladder.prototype.apply = function () {
    var v = this.view;
    this.g.setAttribute("transform", "translate(" + v.x + "," + v.y + ") scale(" + v.k + ")");
    this.gHeads.setAttribute("transform", "translate(" + v.x + ",0) scale(" + v.k + ")");
  };

  Ladder.prototype.zoomAt = function (px, py, f) {
    this.follow = false;
    var v = this.view;
    var k = Math.min(8, Math.max(0.02, v.k * f));
    v.x = px - (px - v.x) * (k / v.k);
    v.y = py - (py - v.y) * (k / v.k);
    v.k = k;
    this.apply();
    if (this.tall) this.grow();
  };

  Ladder.prototype.zoomBy = function (f) {
    var r = this.svg.getBoundingClientRect();
    this.zoomAt(r.width / 2, L.top, f);
  };

  Ladder.prototype.fit = function () {
    var r = this.svg.getBoundingClientRect();
    var k = Math.min(r.width / this.width(), 4);
    this.view = { k: k, x: 0, y: 0 };
    this.apply();
  };

  // setTall makes the diagram as tall as all its rows (the page scrolls), or a window
  // into them again.
  Ladder.prototype.setTall = function (on) {
    this.tall = on;
    this.tallButton.classList.toggle("on", on);
    if (on) {
      this.view.y = 0;
      this.apply();
    }
    this.grow();
  };

  Ladder.prototype.reset = function () {
    this.view = { k: 1, x: 0, y: 0 };
    this.apply();
  };

  Ladder.prototype.listen = function () {
    var self = this, svg = this.svg, drag = null;
    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = svg.getBoundingClientRect();
      if (ev.shiftKey) {
        self.view.x -= ev.deltaY;
        self.apply();
        return;
      }
      self.zoomAt(ev.clientX - r.left, ev.clientY - r.top, Math.exp(-ev.deltaY * 0.0015));
    }, { passive: false });
    svg.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0) return;
      drag = { x: ev.clientX, y: ev.clientY, vx: self.view.x, vy: self.view.y, moved: false };
      self.dragged = false;
    });
    svg.addEventListener("pointermove", function (ev) {
      if (!drag) return;
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!drag.moved) {
        drag.moved = true;
        self.follow = false;
        svg.setPointerCapture(ev.pointerId);
        svg.classList.add("dragging");
        self.tip.hidden = true;
      }
      self.view.x = drag.vx + dx;
      self.view.y = drag.vy + dy;
      self.apply();
    });
    function stop(ev) {
      if (!drag) return;
      self.dragged = drag.moved;
      drag = null;
      svg.classList.remove("dragging");
      if (svg.hasPointerCapture(ev.pointerId)) svg.releasePointerCapture(ev.pointerId);
    }
    svg.addEventListener("pointerup", stop);
    svg.addEventListener("pointercancel", stop);
  };

  global.SocklabLadder = {
    create: function (root, opts) {
      var l = new Ladder(root, opts);
      return {
        add: function (rec) { l.add(rec); },
        end: function (e) { l.end(e); },
        // Counts, for tests and status lines.
        steps: function () { return l.stepCount; },
        arrows: function () { return l.arrowCount; },
        hosts: function () { return l.hosts.map(function (h) { return h.role; }); },
        fit: function () { l.fit(); },
        reset: function () { l.reset(); },
        tall: function (on) { l.setTall(on !== false); },
        reveal: function (index) { return l.reveal(index); }
      };
    },
    // pyBytes and hexDump are the renderer's payload formats.
    pyBytes: pyBytes,
    hexDump: hexDump
  };
})(window);
