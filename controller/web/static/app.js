// The live ladder of a socklab run: hosts as lifelines, each step a dot on its host's
// line, each message an arrow from the step that sent it to the step that got it. Records
// come as Server-Sent Events from the page's server, one JSON object each:
// {"run"}, {"step"}, {"arrow"}, {"gap"}, {"end"}.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const COL = 240;     // between two lifelines
const LEFT = 70;     // the first lifeline
const TOP = 16;      // the first step
const ROW = 24;      // between two steps
const LABEL = 300;   // room right of the last lifeline for its labels

function el(name, attrs, text) {
  const e = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function cut(s, n) {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

// createLadder draws records into svg, the hosts' names into header (kept in view as
// the ladder scrolls); add takes each record in order.
function createLadder(svg, header) {
  const hosts = new Map(); // role -> column
  const steps = new Map(); // index -> {x, y}
  let base = null;         // the first step's index
  let last = -1;
  let nArrows = 0;
  let lifelines = [];
  const defs = el("defs");
  for (const kind of ["connect", "data", "fin", "rst", "datagram", "lost"]) {
    const m = el("marker", {id: "head-" + kind, class: "head kind-" + kind, viewBox: "0 0 10 10", refX: "10", refY: "5",
      markerWidth: "8", markerHeight: "8", orient: "auto-start-reverse"});
    m.appendChild(el("path", {d: "M0,0 L10,5 L0,10 z"}));
    defs.appendChild(m);
  }
  const gLines = el("g", {class: "lifelines"});
  const gArrows = el("g", {class: "arrows"});
  const gSteps = el("g", {class: "steps"});
  svg.append(defs, gLines, gArrows, gSteps);

  function width() { return LEFT + Math.max(hosts.size - 1, 0) * COL + LABEL; }
  function y(index) { return TOP + (index - base) * ROW; }
  function grow() {
    const h = (last < 0 ? TOP : y(last)) + ROW * 2;
    svg.setAttribute("height", h);
    svg.setAttribute("width", width());
    header.setAttribute("width", width());
    for (const l of lifelines) l.setAttribute("y2", h);
  }

  function run(r) {
    r.hosts.forEach((h, i) => {
      const x = LEFT + i * COL;
      hosts.set(h.role, x);
      const line = el("line", {class: "lifeline", x1: x, y1: 0, x2: x, y2: 60});
      lifelines.push(line);
      gLines.append(line);
      header.append(el("text", {class: "host", x: x, y: 14, "text-anchor": "middle"}, h.role),
        el("text", {class: "address", x: x, y: 28, "text-anchor": "middle"}, h.address));
    });
    grow();
  }

  function step(s) {
    if (base === null) base = s.index;
    last = Math.max(last, s.index);
    const yy = y(s.index);
    const g = el("g", {class: "step kind-" + s.kind + (s.failed ? " failed" : ""), "data-index": s.index});
    const full = s.kind === "op" ? s.call + " → " + s.result : s.call;
    const title = el("title", {}, (s.host ? s.host + ": " : "") + full + (s.pos ? "  (" + s.pos + ")" : "") +
      "  at " + s.at_ms.toFixed(1) + " ms");
    if (s.kind === "op" && hosts.has(s.host)) {
      const x = hosts.get(s.host);
      steps.set(s.index, {x: x, y: yy});
      g.append(title, el("circle", {cx: x, cy: yy, r: 4}),
        el("text", {x: x + 8, y: yy - 5, class: "label"}, cut(full, 44)));
    } else {
      g.append(title, el("text", {x: 8, y: yy + 4, class: "say"}, cut(full, 120)));
    }
    gSteps.appendChild(g);
    grow();
  }

  function arrow(a) {
    const from = steps.get(a.send);
    if (!from) return; // its send is before what this page got
    nArrows++;
    const g = el("g", {class: "arrow kind-" + a.kind});
    let x2, y2;
    if (a.kind === "lost" || !steps.has(a.recv)) {
      const dir = hosts.size > 1 && from.x === LEFT ? 1 : -1;
      x2 = from.x + dir * COL / 2; y2 = from.y + ROW / 2;
      g.appendChild(el("text", {x: x2, y: y2 + 4, class: "lost-mark", "text-anchor": "middle"}, "✕"));
    } else {
      const to = steps.get(a.recv);
      x2 = to.x; y2 = to.y;
    }
    const line = el("line", {x1: from.x, y1: from.y, x2: x2, y2: y2, "marker-end": a.kind === "lost" ? "" : "url(#head-" + a.kind + ")"});
    const what = a.kind + (a.bytes ? " " + a.bytes + " bytes " + a.preview : "") + (a.conn ? "  (connection " + a.conn + ")" : "");
    g.prepend(el("title", {}, a.from + " → " + (a.to || "nobody") + ": " + what));
    g.appendChild(line);
    if (a.preview) {
      g.appendChild(el("text", {x: (from.x + x2) / 2, y: (from.y + y2) / 2 - 4, class: "preview", "text-anchor": "middle"}, cut(a.preview, 28)));
    } else if (a.kind !== "data") {
      g.appendChild(el("text", {x: (from.x + x2) / 2, y: (from.y + y2) / 2 - 4, class: "preview", "text-anchor": "middle"}, a.kind.toUpperCase()));
    }
    gArrows.appendChild(g);
  }

  return {
    add(rec) {
      if (rec.run) run(rec.run);
      else if (rec.step) step(rec.step);
      else if (rec.arrow) arrow(rec.arrow);
    },
    arrows() { return nArrows; },
    steps() { return steps.size; },
  };
}

function main() {
  const body = document.body;
  const svg = document.getElementById("ladder");
  const scroller = document.getElementById("scroller");
  const status = document.getElementById("status");
  const ladder = createLadder(svg, document.getElementById("hosts"));
  let control = null;
  let ended = null;
  let nSteps = 0;

  function show() {
    let s;
    if (ended) {
      s = "ended: " + ended.verdict + ", " + ended.score + "/" + ended.max_score + " points";
    } else if (control && control.paused) {
      s = control.waiting ? "paused after step " + control.steps : "paused: the run holds after its next step";
    } else {
      s = "live" + (control ? ", pace " + control.pace_ms + " ms" : "");
    }
    status.textContent = s + " · " + nSteps + " steps, " + ladder.arrows() + " arrows";
  }

  function atBottom() {
    return scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 2 * ROW;
  }

  function onRecord(rec) {
    const follow = atBottom();
    if (rec.run) {
      document.getElementById("title").textContent = rec.run.lab + " · " + rec.run.id;
      document.getElementById("summary").textContent = rec.run.summary || "";
      document.title = rec.run.lab + " · socklab";
    }
    if (rec.step) nSteps++;
    if (rec.gap) {
      const g = document.getElementById("gap");
      g.hidden = false;
      g.textContent = "The first " + rec.gap.records + " steps and arrows of this run are not shown: the server keeps the latest " + rec.gap.kept + ".";
    }
    ladder.add(rec);
    if (rec.end) finish(rec.end);
    if (follow) scroller.scrollTop = scroller.scrollHeight;
  }

  function finish(end) {
    ended = end;
    document.getElementById("controls").hidden = true;
    const res = document.getElementById("result");
    res.hidden = false;
    const v = document.getElementById("verdict");
    v.textContent = end.verdict + " · " + end.score + "/" + end.max_score + " points";
    v.className = "verdict-" + end.verdict;
    document.getElementById("error").textContent = end.error || "";
    const tbody = document.querySelector("#checks tbody");
    tbody.replaceChildren();
    for (const c of end.checks) {
      const tr = document.createElement("tr");
      tr.className = c.passed ? "pass" : "fail";
      for (const text of [c.id + (c.description ? ": " + c.description : ""), c.passed ? "passed" : (c.reached ? "failed" : "not reached"), c.message || ""]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
  }

  const es = new EventSource(body.dataset.events);
  es.onmessage = (m) => {
    const rec = JSON.parse(m.data);
    onRecord(rec);
    if (rec.end) es.close();
    show();
  };
  es.addEventListener("control", (m) => {
    control = JSON.parse(m.data);
    const pace = document.getElementById("pace");
    if (document.activeElement !== pace) pace.value = control.pace_ms;
    document.getElementById("pause").disabled = control.paused;
    document.getElementById("step").disabled = !control.paused;
    document.getElementById("resume").disabled = !control.paused;
    show();
  });
  es.onerror = () => {
    if (!ended && es.readyState === EventSource.CLOSED) status.textContent = "the server has gone";
  };

  if (body.dataset.control) {
    const form = document.getElementById("controls");
    form.hidden = false;
    const post = (req) => fetch(body.dataset.control, {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(req),
    }).then((r) => { if (!r.ok) return r.text().then((t) => { status.textContent = t; }); });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      post({action: "pace", pace_ms: Number(document.getElementById("pace").value)});
    });
    for (const action of ["pause", "step", "resume"]) {
      document.getElementById(action).addEventListener("click", () => post({action: action}));
    }
  }
}

document.addEventListener("DOMContentLoaded", main);
