// The dev-server role: run one session's dev server through its adapter, serve the control
// channel, say `ready`, and stop when told (stdin closes, or SIGTERM in a container).
//
// The dev-server adapter contract. An adapter is adapters/<devServer>.mjs (`devServer` in
// the config; today "vite"), and exports:
//   start(config) -> handle      start the dev server on config.port or config.socket and
//                                answer once it listens (throw if it cannot: the agent says
//                                `error` and exits); the HMR socket at config.wsPath, asking
//                                pages for config.wsToken; the page client (page/client.js)
//                                and the watchdog (page/watchdog.js) first in every page;
//   build(config)                a production build into config.outDir; emits `built`.
// A handle has:
//   version                      the dev server's version (the `ready` event says it)
//   hmrPath, clientPath          where pages reach the HMR socket and the page client
//   notify(changes, fresh)       files changed (already written): show them as the dev
//                                server's own watcher would (a change to its config restarts
//                                it in place); -> Shown {affected, seq, clients}
//   inject(paths)                stylesheets changed: push them in where it can -> Shown
//   announceRestart(seq)         pages reload for change seq when the next server answers
//   memory()                     what its module graph keeps {modules, transformCode, ...}
//   pageRequests()               the requests pages made (PageRequest), the most recent last
//   onRequest(listener)          hear of each HTTP request (idle collection)
//   close()                      stop serving
// How errors come back: the adapter emits `preview-error` (compile, runtime, update: with
// the project file and line) and `ack` for each page's acknowledgement, `console` for the
// pages' warnings and errors (protocol.mjs checks each against the protocol).
// tests/sandbox/test_dev_server_contract.py runs one suite against every adapter.

import fs from "node:fs";
import v8 from "node:v8";
import vm from "node:vm";
import { emit, serveControl } from "./protocol.mjs";

// An idle dev server gives back what its last burst of work left on V8's heap (issue 19):
// a full collection IDLE_GC_MS after the last page request or control call. V8 collects
// when allocation needs it, which an idle server never does (the template app idle: 68 MB
// of heap used before, about 25 after). `gc` is exposed for this (v8.setFlagsFromString).
const IDLE_GC_MS = 10_000;
let idleTimer = null;

function touched() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(collectGarbage, IDLE_GC_MS);
  idleTimer.unref();
}

function collectGarbage() {
  v8.setFlagsFromString("--expose-gc");
  vm.runInNewContext("gc")();
}

// Where the dev server's memory goes (issue 19): the process's (bytes), V8's heap, its
// threads, and what the adapter's module graph keeps.
function memoryReport(handle) {
  const usage = process.memoryUsage();
  const heap = v8.getHeapStatistics();
  const threads = /Threads:\s+(\d+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))?.[1];
  return {
    rss: usage.rss,
    heapTotal: usage.heapTotal,
    heapUsed: usage.heapUsed,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    mallocedMemory: heap.malloced_memory,
    threads: threads === undefined ? null : Number(threads),
    ...handle.memory(),
  };
}

export async function serve(config) {
  const adapter = await import(`./adapters/${config.devServer}.mjs`);
  const handle = await adapter.start(config);
  const actions = {
    notify: ({ changes, fresh }) => handle.notify(changes, Boolean(fresh)),
    inject: ({ paths }) => handle.inject(paths),
    "announce-restart": ({ seq }) => handle.announceRestart(seq),
    health: () => ({ ok: true }),
    memory: () => memoryReport(handle),
    "page-load": () => ({ requests: handle.pageRequests() }),
  };
  const quiet = new Set(["health", "memory"]); // the service's own checks: not activity
  await serveControl(config.controlSocket, config.token, actions, (action) => quiet.has(action) || touched());
  handle.onRequest(touched);
  touched();
  emit("ready", { port: config.port ?? undefined, socket: config.socket ?? undefined, viteVersion: handle.version });

  const shutdown = async () => {
    await Promise.resolve(handle.close()).catch(() => {});
    process.exit(0);
  };
  // A local agent dies with the process that started it (its stdin closes); a container's
  // agent has no stdin and is stopped with SIGTERM.
  if (config.exitOnStdinEnd !== false) {
    process.stdin.on("end", shutdown);
    process.stdin.on("error", shutdown);
    process.stdin.resume();
  }
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}
