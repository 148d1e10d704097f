// The live page of a socklab run: report.html's ladder renderer (ladder.js), fed the
// run's records as Server-Sent Events while it goes, with the run's pace, pause and
// step when the server takes them.
"use strict";

function main() {
  const body = document.body;
  const status = document.getElementById("status");
  const ladder = SocklabLadder.create(document.getElementById("report"), {follow: true});
  window.socklabLadder = ladder; // for tests and the console
  let control = null;
  let ended = null;

  function show() {
    let s;
    if (ended) {
      s = "ended: " + ended.verdict + ", " + ended.score + "/" + ended.max_score + " points";
    } else if (control && control.paused) {
      s = control.waiting ? "paused after step " + control.steps : "paused: the run holds after its next step";
    } else {
      s = "live" + (control ? ", pace " + control.pace_ms + " ms" : "");
    }
    status.textContent = s + " · " + ladder.steps() + " steps, " + ladder.arrows() + " arrows";
  }

  const es = new EventSource(body.dataset.events);
  es.onmessage = (m) => {
    const rec = JSON.parse(m.data);
    ladder.add(rec);
    if (rec.end) {
      ended = rec.end;
      es.close();
      document.getElementById("controls").hidden = true;
    }
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
