// Makes protocol.validate.mjs from protocol.schema.json (itself made from the Python models,
// kontext_preview/sandbox/protocol.py): Ajv's standalone validation code, so that the agent
// checks what it receives without compiling the schema at every start (Ajv at run time
// costs ~200 ms a start, its standalone code ~4 ms; https://ajv.js.org/standalone.html).
// Run by `make agent-schema`; tests/sandbox/test_protocol.py fails while the file is stale.
import fs from "node:fs";
import Ajv from "ajv/dist/2020.js";
import standaloneCode from "ajv/dist/standalone/index.js";

const folder = new URL("../", import.meta.url);
const schema = JSON.parse(fs.readFileSync(new URL("protocol.schema.json", folder), "utf8"));
const ajv = new Ajv({ discriminator: true, strict: true, code: { source: true, esm: true } });
ajv.addSchema(schema, "protocol");
const roots = ["AgentConfig", "Hello", "ControlRequest", "AgentEvent"];
const code = standaloneCode(ajv, Object.fromEntries(roots.map((name) => [name, `protocol#/$defs/${name}`])));
const out = process.argv[2] ?? new URL("protocol.validate.mjs", folder);
fs.writeFileSync(out, "// Made by tools/make-validators.mjs from protocol.schema.json (make agent-schema): do not edit\n" + code + "\n");
