// kontext-preview agent: one Node program, started by a sandbox backend with one JSON config
// (an argument, or "@file" naming a JSON file), which says what to run (`mode`):
//   * "dev" (dev-server.mjs): one preview session's dev server, through its dev-server
//     adapter (adapters/<devServer>.mjs; Vite today), with no file watcher: the service says
//     on the control channel (a Unix socket, JSON lines, guarded by a per-session token)
//     exactly which files changed. It reports on stdout, one JSON object a line: `ready`,
//     `log`, `error`, and later `ack` (a page showed change `seq`), `reloading`,
//     `preview-error` (a compile, runtime or update error) and `console`. It exits when
//     stdin closes (unless told not to, in a container), so it never outlives its starter;
//   * "build": a production build of the project, for the local deployer (`built`);
//   * "image" (image.mjs): run once while the sandbox image is built.
// Every message is one of the agent protocol (protocol.mjs; its source is the models of
// kontext_preview/sandbox/protocol.py), checked on receipt on both sides.

import { fail, keepStdout, readConfig } from "./protocol.mjs";

keepStdout();
let config = null;
try {
  config = readConfig(process.argv[2] ?? "{}");
} catch (err) {
  fail(err?.message ?? String(err), err);
}

async function run() {
  if (config.mode === "dev") return (await import("./dev-server.mjs")).serve(config);
  if (config.mode === "image") return (await import("./image.mjs")).image(config);
  const adapter = await import(`./adapters/${config.devServer ?? "vite"}.mjs`); // the deployment's build
  await adapter.build(config);
  process.exit(0);
}

run()
  .then(() => config.mode === "image" && process.exit(0))
  .catch((err) => {
    if (err?.code === "EADDRINUSE") fail(`port ${config.port} is already in use`, err);
    fail(err?.message ?? String(err), err);
  });
