// kontext-preview's page client: runs in every preview page, served as /@kontext/client and
// injected first in <head> by the agent's plugin (agent.mjs). It
//   * applies CSS pushed by the agent with Vite's own updateStyle;
//   * acknowledges each change the agent announces (`kontext:update`, `kontext:css`) once
//     this page shows it, saying how (`update`, `css`, `reload`) or that it could not
//     (`error`, with the error): the truth of `update.applied` (issue 29);
//   * brings the page to what a fresh load would show where Vite's HMR cannot: a page
//     whose app never loaded (a module failed to fetch, to link or to evaluate), or one
//     left behind by a failed update that the next update does not repair, reloads;
//   * reports the page's runtime errors and console warnings and errors;
//   * counts what reached the page (window.__kontext, read by the tests).
// What the page reports decides, never file names: Vite's client is the same on every
// framework, and the app's entry modules are the module scripts of the page itself.
import { updateStyle } from "/@vite/client";

// A page's id: an agent counts each page's acknowledgement once.
const PAGE = Math.random().toString(36).slice(2, 10);
// After the last of a change's Vite updates, or a load, how long the page is given to show
// an error (React's Fast Refresh renders 16–30 ms after Vite applied the module) and Vite to
// send more of the change before it is acknowledged.
const SETTLE_MS = 60;
// A page loaded again acknowledges once no module has come for SETTLE_MS, at most this long.
const QUIET_MAX_MS = 1500;
// After a module gave up on HMR ("Could not Fast Refresh"), how long the server's update of
// its importers may take to come.
const FOLLOW_UP_MS = 2000;
// How long a change waits for an update of Vite's still being applied before it is
// acknowledged as the page then has it.
const IN_FLIGHT_MS = 10_000;
// A page whose modules the dev server could not answer for a moment (the dependency
// optimizer re-bundling: 504) loads again, at most this many times in a row.
const RETRIES = 3;
const RETRY_KEY = "kontext:load-retries";
const RELOAD_KEY = "kontext:reload-seq";
const OWN_MODULES = ["/@vite/client", "/@kontext/client"];

const kontext = (window.__kontext = {
  page: PAGE,
  injected: 0,
  lastInjection: null,
  viteUpdates: 0,
  acks: [],
  failed: 0,
  connected: false,
  loaded: null, // true once every entry module of the page evaluated, false if one failed
  loadError: null,
});

// Storage that survives a reload: sessionStorage, or where a page's storage is blocked (an
// iframe on another site with third-party storage off) window.name (the app's own name is
// put back).
const kept = {
  set(key, value) {
    try {
      sessionStorage.setItem(key, String(value));
    } catch {
      const rest = window.name.startsWith(`${key}=`) ? window.name.slice(window.name.indexOf("\n") + 1) : window.name;
      window.name = `${key}=${value}\n${rest}`;
    }
  },
  get(key) {
    let value = null;
    try {
      value = sessionStorage.getItem(key);
    } catch {}
    if (value == null && window.name.startsWith(`${key}=`)) {
      value = window.name.slice(key.length + 1, window.name.indexOf("\n"));
    }
    return value;
  },
  take(key) {
    const value = this.get(key);
    try {
      sessionStorage.removeItem(key);
    } catch {}
    if (window.name.startsWith(`${key}=`)) window.name = window.name.slice(window.name.indexOf("\n") + 1);
    return value;
  },
};

// Uncaught errors, with when they happened (performance.now()).
const errors = [];
const report = (error) => ({
  name: error?.name,
  message: String(error?.message ?? error ?? "error").slice(0, 2000),
  stack: error?.stack ? String(error.stack).slice(0, 4000) : undefined,
});

// An error the page cannot recover from by itself, shown as Vite shows a compile error (its
// own overlay element): an update the page could not apply, an app that did not load. The
// page then reads as a fresh load of the same files does, whose app fails the same way; the
// next update clears it (Vite's client does), a reload too.
function showError(error, file) {
  const Overlay = customElements.get("vite-error-overlay");
  if (!Overlay || !document.body || document.querySelector("vite-error-overlay")) return;
  const shown = { message: error.message ?? "error", stack: error.stack ?? "", plugin: "kontext-preview", id: file };
  document.body.appendChild(new Overlay(shown));
}

function overlayMessage(overlay) {
  const text = overlay.shadowRoot?.querySelector(".message")?.textContent ?? "error";
  return text.trim().slice(0, 2000);
}

// Whether the page shows nothing: no text and nothing drawn (Vite's error overlay is in a
// shadow root: not counted).
function looksBlank() {
  const body = document.body;
  if (!body) return true;
  if (body.innerText.trim()) return false;
  return !body.querySelector("img, svg, canvas, video, iframe, input, button, select, textarea");
}

// The app's entry modules are the page's own module scripts, from its own origin. Importing one again answers
// its evaluation's outcome without running it twice (the browser's module map holds it):
// fulfilled once the whole graph evaluated, rejected with the error if a module failed to
// fetch, to link (a missing export) or to evaluate.
async function checkLoad() {
  const entries = [...document.querySelectorAll('script[type="module"][src]')]
    .map((script) => new URL(script.src))
    // The app's own: a module from another origin (a builder's badge script from a CDN) is
    // not the app, and often out of a preview's reach.
    .filter((url) => url.origin === location.origin)
    .filter((url) => !OWN_MODULES.some((own) => url.pathname.endsWith(own)))
    .map((url) => url.href);
  const outcomes = await Promise.allSettled(entries.map((src) => import(/* @vite-ignore */ src)));
  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  kontext.loaded = !failed;
  kontext.loadError = failed ? failed.reason : null;
  return kontext.loaded;
}

const loadChecked = new Promise((resolve) => {
  const run = () => checkLoad().then(resolve, () => resolve(false));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run, { once: true });
  else run();
});

// The last module of this origin the dev server answered with an error, if any.
function failedModule() {
  const failed = performance
    .getEntriesByType("resource")
    .filter((entry) => entry.responseStatus >= 400 && new URL(entry.name).origin === location.origin);
  return failed.at(-1)?.name;
}

// Whether a module that failed did not begin to run: it did not fetch (Vite's client keeps no
// error for those), parse or link (a SyntaxError: a missing export, bad code).
function neverRan(error) {
  if (error == null) return true;
  const message = String(error.message ?? "");
  return error.name === "SyntaxError" || /dynamically imported module|Importing a module script failed/.test(message);
}

// A module the dev server could not answer for a moment is a load to try again: a 504
// (Vite's optimizer re-bundling the dependencies), or a fetch that failed while every module
// that answered with an error answers now (the dev server was starting or restarting: no
// answer at all leaves no status to look at). A module it cannot compile (500) or does not
// have (404) answers so again: that is what a fresh load shows too.
async function failedForAMoment(error) {
  const entries = performance.getEntriesByType("resource");
  if (entries.some((entry) => entry.responseStatus === 504)) return true;
  if (!/dynamically imported module|Importing a module script failed/.test(String(error?.message ?? ""))) return false;
  const failed = entries
    .filter((entry) => entry.responseStatus >= 400 && new URL(entry.name).origin === location.origin)
    .map((entry) => entry.name);
  for (const url of new Set(failed)) {
    const answer = await fetch(url, { cache: "no-store" }).catch(() => null);
    if (!answer?.ok) return false;
  }
  return true;
}

if (import.meta.hot) {
  const hot = import.meta.hot;
  const now = () => performance.now();
  // The change this page was loaded again for, if one (kept across the reload).
  const reloaded = kept.get(RELOAD_KEY);
  let reloadKept = false; // this page will acknowledge a change once loaded again
  // A page on its way to a reload acknowledges nothing more: the page that loads does.
  let leaving = false;
  // The change being shown: {seq, since, failure, invalidated, timer}. One change of files
  // can reach the page as several Vite updates (and a reload); it is acknowledged once, when
  // Vite has sent no more of it for SETTLE_MS.
  let change = null;
  // Modules whose last update failed before the new version ran (it did not fetch, parse
  // or link): the page holds their earlier version, and HMR brings them back by updating
  // them again. An update that leaves one of them behind is a reload.
  const failedModules = new Set();
  // A new version that ran and threw has taken over its module's HMR state (Vite's client
  // cleared the old version's accept handlers when it began to run): HMR cannot bring that
  // page back, the next update is a reload.
  let broken = false;
  // Modules whose files the change deleted: an update of one cannot fetch it, and is no
  // failure (a module that still imports one fails itself).
  let removed = new Set();
  let lastError = null;
  let failure = null; // of the Vite update being applied: {path, error}

  const ack = (seq, kind, error, settledMs = 0) => {
    if (seq == null || leaving) return;
    kontext.acks.push({ seq, kind });
    hot.send("kontext:ack", { seq, kind, error, page: PAGE, settledMs });
    // The change this page loaded for is acknowledged: a later load is for another.
    if (String(seq) === reloaded && kept.get(RELOAD_KEY) === reloaded) kept.take(RELOAD_KEY);
  };
  const keepForReload = (seq) => {
    if (seq == null) return;
    kept.set(RELOAD_KEY, seq);
    reloadKept = true;
  };
  const reloadFor = (seq) => {
    keepForReload(seq);
    leaving = true;
    location.reload();
  };
  // How the page came out of a change: an error report if the app failed since `since`
  // (it did not load, shows Vite's overlay, or threw and shows nothing), else null.
  const outcome = (since) => {
    if (kontext.loaded === false) return report(kontext.loadError);
    // Vite's overlay: the dev server reported that error itself (preview.error, compile).
    const overlay = document.querySelector("vite-error-overlay");
    if (overlay) return { message: overlayMessage(overlay), shown: "overlay" };
    const thrown = errors.find((entry) => entry.at >= since);
    return thrown && looksBlank() ? report(thrown.error) : null;
  };
  // Acknowledge the change being shown, as the page has it now.
  const finish = (shown, settledSince) => {
    if (change !== shown) return;
    change = null;
    clearTimeout(shown.timer);
    const error = shown.failure ?? outcome(shown.since);
    ack(shown.seq, error ? "error" : "update", error ?? undefined, now() - settledSince);
  };
  const settleLater = (ms) => {
    const shown = change;
    clearTimeout(shown.timer);
    const since = now();
    shown.timer = setTimeout(() => finish(shown, since), ms);
  };

  // A page loaded again for a change acknowledges it once its app has loaded (or failed to)
  // and the page has finished loading (Vite's error page puts its overlay up as it loads).
  // The change stays kept until then: a page loaded again before it acknowledged (Vite
  // re-bundling twice) leaves it to the next.
  loadChecked.then(async (loaded) => {
    if (!loaded && (await failedForAMoment(kontext.loadError))) {
      const tries = Number(kept.take(RETRY_KEY) ?? 0);
      if (tries < RETRIES) {
        kept.set(RETRY_KEY, tries + 1);
        leaving = true;
        setTimeout(() => location.reload(), 250 * (tries + 1));
        return;
      }
    } else kept.take(RETRY_KEY);
    if (!loaded) {
      showError(report(kontext.loadError));
      // The dev server says why a module it did not answer failed (Vite's overlay replaces
      // this one): the same a page open when the error came was shown.
      const url = failedModule();
      if (url) hot.send("kontext:load-failed", { url });
    }
    if (reloaded == null) return;
    // "launch": loaded again for the dev server's start (from a status page, or held by the
    // proxy while it started): the agent knows which update that was.
    const seq = reloaded === "launch" ? reloaded : Number(reloaded);
    // Once the page's modules have stopped coming (a page its framework rendered on the
    // server hydrates from modules it imports after the load event), at most QUIET_MAX_MS.
    const done = () => {
      const since = now();
      let seen = -1;
      const settle = () => {
        const loaded = performance.getEntriesByType("resource").length;
        if (loaded !== seen && now() - since < QUIET_MAX_MS) {
          seen = loaded;
          return setTimeout(settle, SETTLE_MS);
        }
        const error = outcome(0);
        ack(seq, error ? "error" : "reload", error ?? undefined, now() - since);
      };
      setTimeout(settle, SETTLE_MS);
    };
    if (document.readyState === "complete") done();
    else addEventListener("load", done, { once: true });
  });

  // What the page's own code logs at warn and error reaches the chat (Vite's own messages,
  // "[vite] …", are reported as preview.error instead), with where it was logged from.
  const text = (arg) => {
    if (typeof arg === "string") return arg;
    if (arg instanceof Error) return arg.stack ?? String(arg);
    try {
      return JSON.stringify(arg) ?? String(arg);
    } catch {
      return String(arg);
    }
  };
  const forward = (level, args) => {
    const message = args.map(text).join(" ").slice(0, 2000);
    if (/^\[(vite|hmr)\]/.test(message)) return;
    const caller = (new Error().stack ?? "")
      .split("\n")
      .slice(1)
      .find((line) => /https?:\/\//.test(line) && !line.includes("@kontext/client"));
    hot.send("kontext:console", { level, message, caller });
  };
  const consoleWarn = console.warn.bind(console);
  console.warn = (...args) => {
    consoleWarn(...args);
    forward("warn", args);
  };
  // Vite's client reports an HMR update it could not apply (the module failed to fetch, to
  // evaluate or to link) only on the console: "[hmr] Failed to reload <path>", after the
  // error itself (which it leaves out for fetch failures). Both are kept here.
  // An error a framework caught (its error boundary: React Router's, SvelteKit's) and
  // logged: no error event tells of it, its console.error does. It is reported as a runtime
  // error once (one the page threw is reported by its error event), unless it is Vite's
  // report of an update it could not apply ("[hmr] Failed to reload" follows it at once).
  const reported = new WeakSet();
  let caught = null;
  const reportCaught = () => {
    const error = caught;
    caught = null;
    if (!error || reported.has(error)) return;
    reported.add(error);
    errors.push({ error, at: performance.now() });
    reportError(error.message, undefined, undefined, undefined, error.stack);
  };
  const consoleError = console.error.bind(console);
  console.error = (...args) => {
    consoleError(...args);
    forward("error", args);
    for (const arg of args) {
      if (arg instanceof Error) {
        lastError = arg;
        caught = arg;
        setTimeout(reportCaught, 0);
      }
      const failed = typeof arg === "string" && /Failed to reload (\S+)\. This could be/.exec(arg);
      if (failed) {
        failure = { path: failed[1], error: lastError };
        lastError = null;
        caught = null;
      }
    }
  };
  const failureReport = ({ path, error }) => ({ path, ...(error ? report(error) : { message: undefined }) });

  hot.on("kontext:update", ({ seq, reload, removed: gone }) => {
    // "launch": the proxy held this page while a dev server started, and reloads it now; a
    // change already announced for that reload keeps its own number.
    if (seq === "launch") {
      if (!reloadKept) keepForReload(seq);
      return;
    }
    if (change) finish(change, change.since); // the one before, as it stands
    change = { seq, since: now(), failure: null, invalidated: false, timer: null };
    removed = new Set(gone ?? []);
    // The dev server restarts for this change: the page reloads when it is back, and
    // acknowledges the change once loaded again.
    if (reload) keepForReload(seq);
  });
  hot.on("vite:ws:connect", () => (kontext.connected = true));
  hot.on("vite:ws:disconnect", () => (kontext.connected = false));
  // Vite's update messages being applied: the client fetches each one's modules (after
  // the dev server transformed them) and says afterUpdate; a change is settled only once
  // none is in flight (one of several files can take longer than SETTLE_MS to come).
  let inFlight = 0;
  hot.on("vite:beforeUpdate", (payload) => {
    inFlight += 1;
    kontext.viteUpdates += payload.updates.length;
    failure = null;
    if (change) clearTimeout(change.timer);
    // HMR cannot bring this page to what a fresh load shows: its app never loaded (nothing
    // accepts an update: Vite's client would do nothing), or an earlier update of a module
    // failed and this one does not update it again, or a module's new version threw. A
    // fresh load it is.
    const updated = new Set(payload.updates.map((u) => u.acceptedPath ?? u.path));
    const leftBehind = [...failedModules].some((path) => !updated.has(path));
    if (kontext.loaded === false || leftBehind || broken) reloadFor(change?.seq);
  });
  hot.on("vite:invalidate", () => {
    if (change) change.invalidated = true;
  });
  hot.on("vite:afterUpdate", (payload) => {
    inFlight = Math.max(0, inFlight - 1);
    for (const update of payload.updates) failedModules.delete(update.acceptedPath ?? update.path);
    if (failure && removed.has(failure.path)) failure = null;
    if (failure) {
      if (neverRan(failure.error)) failedModules.add(failure.path);
      else broken = true;
      showError(failureReport(failure), failure.path);
      kontext.failed += 1;
      if (change) change.failure ??= failureReport(failure);
      failure = null;
    }
    if (!change) return;
    // A module gave up on HMR: the server's update of its importers comes next (a reload,
    // or an update after which this runs again); should none come, it is acknowledged so.
    // Another update still in flight settles it when it is done (IN_FLIGHT_MS: should its
    // afterUpdate never come).
    const wait = inFlight > 0 ? IN_FLIGHT_MS : change.invalidated && !change.failure ? FOLLOW_UP_MS : SETTLE_MS;
    change.invalidated = false;
    settleLater(wait);
  });
  hot.on("vite:error", (payload) => {
    if (!change) return;
    const message = String(payload?.err?.message ?? "compile error").slice(0, 2000);
    change.failure ??= { message, shown: "overlay" }; // the dev server reported it already
    settleLater(SETTLE_MS);
  });
  hot.on("vite:beforeFullReload", () => {
    // Vite's client reloads now (unless the payload names another HTML page: then this page
    // is still here a while later and goes on). The change being shown is acknowledged by
    // the page that loads.
    leaving = true;
    setTimeout(() => (leaving = false), 10_000);
    const owed = change?.seq;
    if (change) clearTimeout(change.timer);
    change = null;
    if (owed == null) return;
    keepForReload(owed);
    hot.send("kontext:reloading", { seq: owed }); // a page load can take longer than an update
  });
  hot.on("kontext:css", ({ styles, seq }) => {
    for (const { id, css } of styles) updateStyle(id, css);
    kontext.injected += 1;
    kontext.lastInjection = { seq, at: performance.timeOrigin + performance.now() };
    ack(seq, "css");
  });
  const reportError = (message, url, line, column, stack) =>
    hot.send("kontext:error", {
      message: String(message).slice(0, 2000),
      url,
      line,
      column,
      stack: stack ? String(stack).slice(0, 4000) : undefined,
    });
  addEventListener("error", (e) => {
    if (e.error && typeof e.error === "object") reported.add(e.error);
    errors.push({ error: e.error ?? e.message, at: performance.now() });
    reportError(e.message, e.filename, e.lineno, e.colno, e.error?.stack);
  });
  addEventListener("unhandledrejection", (e) => {
    if (e.reason && typeof e.reason === "object") reported.add(e.reason);
    errors.push({ error: e.reason, at: performance.now() });
    reportError(e.reason?.message ?? e.reason, undefined, undefined, undefined, e.reason?.stack);
  });
}
