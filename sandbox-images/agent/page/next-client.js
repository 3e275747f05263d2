// kontext-preview's page client for dev servers that are not Vite (Next.js): a classic
// script served by the agent at /@kontext/next-client.js and put first in every page's
// <head> (adapters/next.mjs), so it runs before the framework's own scripts. Next's HMR is
// its own (its socket at /_next/hmr, /_next/webpack-hmr before 16; Fast Refresh, server components refetched); this
// client only watches it and tells the agent what the page shows, over a socket of its own
// (the session's HMR path, `kontext-page` subprotocol). It
//   * acknowledges each change the agent announces (`kontext:update`) once the page shows
//     it: after Next's build for it (`built`, with or without errors), the page's requests
//     answered (a server component comes as a refetch) and the page's quiet (no HMR message,
//     no DOM change for QUIET_MS; at most BUSY_PAGE_MS for a page always busy), saying how (`update`, `reload`) or that it
//     could not (`error`: Next's compile error, or a runtime error that left the page blank);
//     a change that reaches no part of this page is acknowledged after NO_BUILD_MS;
//   * follows reloads: Next's own (`reloadPage`, a Fast Refresh that gave up), the proxy's
//     (`full-reload` when a restarted dev server serves again) and its own when its socket
//     opens again on a new dev server, acknowledging the change once loaded again
//     (sessionStorage keeps it across the reload);
//   * reports the page's runtime errors and console warnings and errors;
//   * counts what reached the page (window.__kontext, read by the tests).
// Its config (the socket's path and token) is in its <script> tag's data- attributes.
(() => {
  if (window.__kontext) return;
  const CONFIG = { ...document.currentScript?.dataset }; // {wsPath, wsToken}: the agent's
  const PAGE = Math.random().toString(36).slice(2, 10);
  // Quiet after Next's last HMR message and the last DOM change before a change counts as shown
  // (React renders a Fast Refresh update in 5-30 ms; a server component's refetch in ~50).
  const QUIET_MS = 120;
  // A change Next builds nothing for in this page (a file no route of it imports).
  const NO_BUILD_MS = 1500;
  // At most this long for a change's build and render (a first compile of a new route).
  const CHANGE_MAX_MS = 20_000;
  // A page that never goes quiet (an animation changing the DOM all the time) is taken as
  // showing the change this long after its build is in and its requests are answered.
  const BUSY_PAGE_MS = 1000;
  // A page loaded again acknowledges once no resource has come for QUIET_MS, at most this long.
  const LOAD_QUIET_MAX_MS = 3000;
  const RELOAD_KEY = "kontext:reload-seq";
  const Native = window.WebSocket;
  const now = () => performance.now();

  const kontext = (window.__kontext = {
    page: PAGE,
    acks: [],
    connected: false,
    builds: 0,
    failed: 0,
    loaded: null,
    loadError: null,
  });

  const kept = {
    set(key, value) {
      try { sessionStorage.setItem(key, String(value)); } catch {}
    },
    take(key) {
      let value = null;
      try {
        value = sessionStorage.getItem(key);
        sessionStorage.removeItem(key);
      } catch {}
      return value;
    },
  };

  // ---- the agent's socket: announcements in, acknowledgements and reports out
  const queue = [];
  let socket = null;
  let wasOpen = false;
  const send = (event, data) => {
    const text = JSON.stringify({ type: "custom", event, data });
    if (socket?.readyState === 1) socket.send(text);
    else if (queue.length < 100) queue.push(text);
  };
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new Native(`${scheme}//${location.host}${CONFIG.wsPath}?token=${encodeURIComponent(CONFIG.wsToken)}`, "kontext-page");
    socket.addEventListener("open", () => {
      // Open again after a close: the dev server behind it is a new one (a restart, a wake),
      // which this page's Next runtime does not know: it loads again, as Vite's client does.
      if (wasOpen) return reloadFor(keptSeq ?? change?.seq ?? "launch");
      wasOpen = true;
      kontext.connected = true;
      for (const text of queue.splice(0)) socket.send(text);
    });
    socket.addEventListener("message", (e) => {
      let message;
      try { message = JSON.parse(e.data); } catch { return; }
      if (message.type === "full-reload") reloadFor(change?.seq ?? keptSeq);
      else if (message.type === "custom" && message.event === "kontext:update") announced(message.data ?? {});
    });
    socket.addEventListener("close", () => {
      kontext.connected = false;
      setTimeout(connect, 1000);
    });
  };

  // ---- Next's HMR socket, heard (never written to)
  let building = null; // when Next said `building`, until `built`
  let lastMessage = 0;
  let built = 0; // `built`/`sync` messages heard
  let compileErrors = []; // of Next's last build
  const heard = (message) => {
    lastMessage = now();
    const type = message.type ?? message.action;
    if (type === "building") building ??= now();
    if (type === "built" || type === "sync") {
      building = null;
      built += 1;
      kontext.builds += 1;
      compileErrors = (message.errors ?? []).map((e) => String(e?.message ?? e));
    }
    if (type === "reloadPage") reloadFor(change?.seq);
    if (change) settle();
  };
  class Watched extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (/\/_next\/(webpack-)?hmr\b/.test(String(url))) {
        this.addEventListener("message", (e) => {
          if (typeof e.data !== "string") return lastMessage = now();
          try { heard(JSON.parse(e.data)); } catch {}
        });
      }
    }
  }
  window.WebSocket = Watched;

  let lastMutation = 0;
  new MutationObserver(() => (lastMutation = now())).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });

  // The page's own requests in flight: a server component's change reaches the page as a
  // refetch of its payload (Next's router: `fetch` with an `RSC` header) after `built`.
  let fetching = 0;
  let lastFetch = 0;
  const nativeFetch = window.fetch.bind(window);
  window.fetch = (...args) => {
    fetching += 1;
    lastFetch = now();
    const done = () => {
      fetching -= 1;
      lastFetch = now();
      if (change) settle();
    };
    const answer = nativeFetch(...args);
    answer.then(done, done);
    return answer;
  };

  // ---- errors and console
  const errors = [];
  const report = (error) => ({
    name: error?.name,
    message: String(error?.message ?? error ?? "error").slice(0, 2000),
    stack: error?.stack ? String(error.stack).slice(0, 4000) : undefined,
  });
  // Each error is reported once: thrown (the error event), or caught by an error boundary
  // (Next's, React's) and logged with console.error.
  const reported = new WeakSet();
  const reportError = (error, fields = {}) => {
    if (error && typeof error === "object") {
      if (reported.has(error)) return;
      reported.add(error);
    }
    errors.push({ error, at: now() });
    send("kontext:error", { message: String(error?.message ?? error ?? "error").slice(0, 2000), stack: error?.stack ? String(error.stack).slice(0, 4000) : undefined, ...fields });
  };
  addEventListener("error", (e) => reportError(e.error ?? e.message, { url: e.filename, line: e.lineno, column: e.colno }));
  addEventListener("unhandledrejection", (e) => reportError(e.reason));
  const text = (arg) => {
    if (typeof arg === "string") return arg;
    if (arg instanceof Error) return arg.stack ?? String(arg);
    try { return JSON.stringify(arg) ?? String(arg); } catch { return String(arg); }
  };
  for (const level of ["warn", "error"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      original(...args);
      const message = args.map(text).join(" ").slice(0, 2000);
      if (/^\[(HMR|Fast Refresh)\]/.test(message)) return;
      send("kontext:console", { level, message });
      if (level === "error") for (const arg of args) if (arg instanceof Error) reportError(arg);
    };
  }
  const looksBlank = () => {
    const body = document.body;
    if (!body) return true;
    if (body.innerText.trim()) return false;
    return !body.querySelector("img, svg, canvas, video, iframe, input, button, select, textarea");
  };
  // How the page came out of a change since `since`: Next's compile error (it shows it in
  // its overlay), a runtime error that left nothing on the page, or null.
  const outcome = (since) => {
    if (compileErrors.length) return { message: compileErrors[0].slice(0, 4000), compile: true };
    const thrown = errors.find((entry) => entry.at >= since);
    return thrown && looksBlank() ? report(thrown.error) : null;
  };

  // ---- changes
  let change = null; // {seq, since, builtBefore, timer}
  let leaving = false;
  let keptSeq = null;
  const ack = (seq, kind, error, settledMs = 0) => {
    if (seq == null || leaving) return;
    kontext.acks.push({ seq, kind });
    send("kontext:ack", { seq, kind, error, page: PAGE, settledMs });
  };
  const reloadFor = (seq) => {
    if (seq != null) kept.set(RELOAD_KEY, seq);
    leaving = true;
    location.reload();
  };
  const announced = ({ seq, reload }) => {
    if (seq === "launch" || reload) {
      keptSeq = seq; // the dev server restarts: the page reloads when it serves again
      kept.set(RELOAD_KEY, seq);
      return;
    }
    if (change) finish();
    // A build Next began just before the announcement (its watcher can be first) is this change's.
    const startedJustBefore = building != null && now() - building < 1000;
    change = { seq, since: now(), builtBefore: startedJustBefore ? built - 1 : built, readyAt: null, timer: null };
    settle();
  };
  const finish = () => {
    const shown = change;
    change = null;
    clearTimeout(shown.timer);
    const error = outcome(shown.since);
    if (error) kontext.failed += 1;
    ack(shown.seq, error ? "error" : "update", error ?? undefined, Math.max(0, now() - Math.max(lastMessage, lastMutation, shown.since)));
  };
  const settle = () => {
    const shown = change;
    clearTimeout(shown.timer);
    const t = now();
    const age = t - shown.since;
    const builtSince = built > shown.builtBefore && building == null;
    const answered = fetching === 0 && t - lastFetch >= QUIET_MS;
    if ((builtSince || age >= NO_BUILD_MS) && building == null && answered) shown.readyAt ??= t;
    const quiet = t - lastMessage >= QUIET_MS && t - lastMutation >= QUIET_MS;
    const shownNow = shown.readyAt != null && (quiet || t - shown.readyAt >= BUSY_PAGE_MS);
    if (shownNow || age >= CHANGE_MAX_MS) return finish();
    shown.timer = setTimeout(() => change === shown && settle(), QUIET_MS / 2);
  };
  // Next reloads the page itself where Fast Refresh cannot apply a change: the page that
  // loads acknowledges it.
  addEventListener("pagehide", () => {
    if (change && !leaving) kept.set(RELOAD_KEY, change.seq);
  });

  // ---- a page loaded again for a change acknowledges it once its resources stop coming
  const reloaded = kept.take(RELOAD_KEY);
  const loadedAgain = () => {
    const since = now();
    let seen = -1;
    const quiet = () => {
      const count = performance.getEntriesByType("resource").length;
      if ((count !== seen || now() - lastMutation < QUIET_MS) && now() - since < LOAD_QUIET_MAX_MS) {
        seen = count;
        return setTimeout(quiet, QUIET_MS);
      }
      kontext.loaded = true;
      if (reloaded == null) return;
      const seq = reloaded === "launch" ? "launch" : Number(reloaded);
      const error = outcome(0);
      ack(seq, error ? "error" : "reload", error ?? undefined, now() - since);
    };
    setTimeout(quiet, QUIET_MS);
  };
  if (document.readyState === "complete") loadedAgain();
  else addEventListener("load", loadedAgain, { once: true });
  connect();
})();
