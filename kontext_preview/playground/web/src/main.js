// The playground: pick a sample project, start its preview, edit a file, send the update,
// and watch the preview, the session's events and the update latencies. It talks to the
// API it is served by through the TypeScript client (clients/typescript), as a chat's
// backend would with the API key from the page's address (#key=...) or typed in; the
// preview pane is the client's <PreviewFrame>, as a chat's page would show it, with a
// browser token the key asked for (never the key).

import { KontextClient } from "@kontext-preview/client";
import { PreviewFrame } from "@kontext-preview/client/react";
import { EditorView, basicSetup } from "codemirror";
import { createElement } from "react";
import { createRoot } from "react-dom/client";
import { css } from "@codemirror/lang-css";
import { html } from "@codemirror/lang-html";
import { javascript } from "@codemirror/lang-javascript";
import "./style.css";

const $ = (id) => document.getElementById(id);
const state = { files: {}, sent: {}, current: null, session: null, stream: null, latencies: [] };
const KEY = "kontext-playground-key";

const keyInput = $("key");
keyInput.value = new URLSearchParams(location.hash.slice(1)).get("key") ?? localStorage.getItem(KEY) ?? "";
if (location.hash) history.replaceState(null, "", location.pathname); // keep the key out of sight
keyInput.addEventListener("change", () => localStorage.setItem(KEY, keyInput.value.trim()));
if (keyInput.value) localStorage.setItem(KEY, keyInput.value);

function status(text) {
  $("status").textContent = text;
}

// The chat's backend: the API key.
const kontext = new KontextClient({ baseUrl: location.origin, credential: () => keyInput.value.trim() });

// The chat's page: a browser token for one session (asked again when it expires).
function pageClient(sessionId) {
  let token = null;
  return new KontextClient({
    baseUrl: location.origin,
    credential: async ({ refresh }) => {
      if (!token || refresh) token = await kontext.createBrowserToken({ sessionId, scopes: ["status", "events"] });
      return token.token;
    },
  });
}

const preview = createRoot($("preview"));

// -- the editor -------------------------------------------------------------------------

function languageOf(name) {
  if (/\.(css|scss|less)$/.test(name)) return [css()];
  if (/\.html?$/.test(name)) return [html()];
  if (/\.(jsx?|tsx?|mjs|json)$/.test(name)) return [javascript({ jsx: true, typescript: /\.tsx?$/.test(name) })];
  return [];
}

let editor = null;
function open(name) {
  state.current = name;
  $("filename").textContent = name;
  editor?.destroy();
  editor = new EditorView({
    doc: state.files[name].content,
    extensions: [
      basicSetup,
      ...languageOf(name),
      EditorView.updateListener.of((update) => {
        if (!update.docChanged) return;
        state.files[name].content = update.state.doc.toString();
        renderFiles();
      }),
    ],
    parent: $("editor"),
  });
  renderFiles();
}

function changedFiles() {
  return Object.values(state.files).filter((f) => state.sent[f.name] !== f.content);
}

function renderFiles() {
  const list = $("files");
  list.replaceChildren(
    ...Object.keys(state.files).map((name) => {
      const item = document.createElement("li");
      item.textContent = name;
      item.classList.toggle("current", name === state.current);
      item.classList.toggle("edited", state.session !== null && state.sent[name] !== state.files[name].content);
      item.addEventListener("click", () => open(name));
      return item;
    }),
  );
  $("send").disabled = !state.session || changedFiles().length === 0;
}

// -- samples and sessions ---------------------------------------------------------------

async function loadSamples() {
  const { samples } = await (await fetch("/playground/samples")).json();
  $("sample").replaceChildren(
    ...samples.map((s) => Object.assign(document.createElement("option"), { value: s.name, textContent: s.title })),
  );
  await choose(samples[0]?.name);
}

async function choose(name) {
  if (!name) return;
  await end();
  const { files } = await (await fetch(`/playground/samples/${encodeURIComponent(name)}`)).json();
  state.files = Object.fromEntries(files.map((f) => [f.name, { ...f }]));
  state.sent = {};
  const first = files.find((f) => /App\.(t|j)sx?$/.test(f.name)) ?? files[0];
  open(first.name);
  status(`${files.length} files: press “Start preview”`);
}

async function start() {
  await end();
  status("starting…");
  try {
    const files = Object.values(state.files);
    const session = await kontext.createPreview({ files }, { wait: true });
    if (session.status !== "active") throw new Error(session.error ?? `the session is ${session.status}`);
    state.session = session;
    state.sent = Object.fromEntries(files.map((f) => [f.name, f.content]));
    preview.render(
      createElement(PreviewFrame, {
        key: session.sessionId,
        client: pageClient(session.sessionId),
        sessionId: session.sessionId,
        title: "Live preview",
        onApplied: (applied) => {
          state.latencies.push({ ms: applied.browserAppliedMs ?? applied.timings?.serverMs ?? 0, strategy: applied.strategy });
          drawChart();
        },
        style: { height: "100%" },
      }),
    );
    $("open").href = session.previewUrl;
    follow(session.sessionId);
    status(`session ${session.sessionId.slice(0, 8)}… active`);
  } catch (err) {
    status(`could not start: ${err.message}`);
  }
  renderFiles();
}

async function send() {
  const files = changedFiles();
  if (!state.session || files.length === 0) return;
  $("send").disabled = true;
  try {
    const answer = await kontext.updatePreview(state.session.sessionId, { files });
    for (const f of files) state.sent[f.name] = f.content;
    status(`update ${answer.updateId.slice(0, 6)}: ${answer.strategy}`);
  } catch (err) {
    status(`update refused: ${err.message}`);
  }
  renderFiles();
}

async function end() {
  state.stream?.abort();
  state.stream = null;
  if (state.session) {
    const id = state.session.sessionId;
    state.session = null;
    await kontext.deletePreview(id).catch(() => {});
  }
  preview.render(null);
}

// -- the event stream (the client's: reconnects and replays) -----------------------------

async function follow(sessionId) {
  const controller = new AbortController();
  state.stream = controller;
  try {
    for await (const event of kontext.events(sessionId, { signal: controller.signal })) onEvent(event.type, event.data);
  } catch {
    // the session ended, or the key was refused
  }
}

function onEvent(type, data) {
  const item = document.createElement("li");
  item.dataset.type = type;
  const name = Object.assign(document.createElement("span"), { className: "type", textContent: type });
  item.append(name, " ", summary(type, data));
  $("log").prepend(item);
}

function summary(type, data) {
  if (type === "update.applied") {
    const ms = data.browserAppliedMs == null ? "no page acknowledged" : `${data.browserAppliedMs} ms in the page`;
    return `${data.strategy}, ${ms} (${data.browserAck})`;
  }
  if (type === "preview.error") return `${data.kind}: ${data.message}`;
  if (type === "session.ready") return data.startMs ? `${data.start} in ${data.startMs} ms` : "";
  if (type === "deploy.progress" || type === "install.progress") return data.line ?? "";
  if (type === "deploy.succeeded") return `${data.durationMs} ms: ${data.url ?? ""}`;
  const { type: _type, at: _at, ...rest } = data;
  return JSON.stringify(rest).slice(0, 160);
}

function drawChart() {
  const svg = $("chart");
  const shown = state.latencies.slice(-30);
  const top = Math.max(50, ...shown.map((p) => p.ms));
  const width = 300 / 30;
  svg.replaceChildren(
    ...shown.map((point, i) => {
      const height = Math.max(2, (point.ms / top) * 100);
      const bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      Object.entries({ x: i * width + 1, y: 110 - height, width: width - 2, height }).forEach(([k, v]) => bar.setAttribute(k, v));
      bar.setAttribute("class", point.strategy);
      const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
      title.textContent = `${point.ms} ms, ${point.strategy}`;
      bar.append(title);
      return bar;
    }),
  );
  const last = shown.at(-1);
  const label = document.createElementNS("http://www.w3.org/2000/svg", "text");
  Object.entries({ x: 4, y: 12, "font-size": 10 }).forEach(([k, v]) => label.setAttribute(k, v));
  label.textContent = last ? `last ${last.ms} ms (${last.strategy}), scale ${top} ms` : "";
  svg.append(label);
  svg.dataset.points = String(state.latencies.length);
}

$("sample").addEventListener("change", (e) => choose(e.target.value));
$("start").addEventListener("click", start);
$("send").addEventListener("click", send);
addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "s") {
    e.preventDefault();
    send();
  }
});
addEventListener("pagehide", () => { end(); });
loadSamples();
