// generate.js regenerates sequenceDiagram.js, the parser of Mermaid's sequence diagrams,
// from sequenceDiagram.jison (Mermaid 11.14.0's packages/mermaid/src/diagrams/sequence/
// parser/sequenceDiagram.jison, commit df032c9, unmodified; MIT, see LICENSE) with
// Debian's jison:
//
//	apt-get install jison
//	NODE_PATH=/usr/share/nodejs node generate.js
const fs = require("fs");
const jison = require("jison");
const ebnf = require("ebnf-parser");
const grammar = ebnf.parse(fs.readFileSync(__dirname + "/sequenceDiagram.jison", "utf8"));
const opts = { moduleType: "commonjs", moduleName: "sequenceDiagram" };
fs.writeFileSync(__dirname + "/sequenceDiagram.js", new jison.Generator(grammar, opts).generate(opts));
