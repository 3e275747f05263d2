// A classic script in every page, for when the client module never ran (the dev server went
// away while the page was loading its modules, so neither the app nor Vite's client is
// there to notice): the page asks the preview where it stands and loads again, showing what
// the preview shows now (the app, the failure or the fallback deployment). At most a few
// times in a row, so a page that cannot run the client module does not reload for ever.
// A page whose storage is blocked (an iframe on another site, third-party storage off)
// cannot count its tries, so it never reloads.
(() => {
  const KEY = "kontext:watchdog";
  const check = async () => {
    let tries;
    try {
      if (window.__kontext) return sessionStorage.removeItem(KEY);
      tries = Number(sessionStorage.getItem(KEY) || 0);
    } catch { return; }
    if (tries >= 5) return;
    try {
      const answer = await fetch("/__kontext/route", { cache: "no-store" });
      if (answer.ok) { sessionStorage.setItem(KEY, String(tries + 1)); return location.reload(); }
    } catch {}
    setTimeout(check, 2000);
  };
  addEventListener("load", () => setTimeout(check, 3000));
})();
