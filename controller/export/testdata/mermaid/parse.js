// parse.js parses a Mermaid sequenceDiagram on stdin as Mermaid does before it draws one:
// the text's entity codes (#35;) encoded as Mermaid's encodeEntities does (utils.ts),
// then Mermaid's own grammar: the parser jison generates from Mermaid's
// sequenceDiagram.jison, the file $SOCKLAB_MERMAID_PARSER names. The diagram's database is a stub that accepts
// every call: this checks the syntax, not what the statements mean. It prints the
// title's, messages' and notes' texts as Mermaid shows them (entity codes decoded, as
// decodeEntities and the browser do) as JSON, {"title": ..., "messages": [...],
// "notes": [...]}, or
// "error: ..." and exits non-zero on an error.
const fs = require("fs");
const { parser } = require(process.env.SOCKLAB_MERMAID_PARSER);

// encodeEntities does what Mermaid's (packages/mermaid/src/utils.ts) does before parsing.
function encodeEntities(text) {
  let txt = text;
  txt = txt.replace(/style.*:\S*#.*;/g, (s) => s.substring(0, s.length - 1));
  txt = txt.replace(/classDef.*:\S*#.*;/g, (s) => s.substring(0, s.length - 1));
  txt = txt.replace(/#\w+;/g, (s) => {
    const innerTxt = s.substring(1, s.length - 1);
    return /^\+?\d+$/.test(innerTxt) ? "ﬂ°°" + innerTxt + "¶ß" : "ﬂ°" + innerTxt + "¶ß";
  });
  return txt;
}

// yy is a stub of the diagram's database (sequenceDb.ts): it takes every call the grammar
// makes and keeps the messages' and notes' texts.
const shown = { title: "", messages: [], notes: [] };
// decode is Mermaid's decodeEntities (utils.ts), then what the browser does with &#35;.
const decode = (t) =>
  t.replace(/ﬂ°°/g, "&#").replace(/ﬂ°/g, "&").replace(/¶ß/g, ";")
    .replace(/&#(\d+);/g, (m, n) => String.fromCodePoint(Number(n)));
const names = new Proxy({}, { get: (target, name) => String(name) }); // LINETYPE.SOLID, PLACEMENT.OVER
parser.yy = {
  LINETYPE: names,
  PLACEMENT: names,
  apply: function count(doc) {
    if (Array.isArray(doc)) return doc.forEach(count);
    if (doc && doc.type === "addMessage") shown.messages.push(decode(doc.msg.text));
    if (doc && doc.type === "addNote") shown.notes.push(decode(doc.text.text));
  },
  parseMessage: (s) => ({ text: s.trim().replace(/^:/, "").trim() }),
  parseBoxData: (s) => ({ text: s }),
  setDiagramTitle: (s) => { shown.title = decode(s.trim()); },
  setAccTitle: () => {},
  setAccDescription: () => {},
};
try {
  parser.parse(encodeEntities(fs.readFileSync(0, "utf8")) + "\n");
  console.log(JSON.stringify(shown));
} catch (e) {
  console.log("error: " + e.message);
  process.exit(1);
}
