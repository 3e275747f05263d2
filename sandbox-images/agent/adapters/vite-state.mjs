// The Vite adapter's shared state: the agent's config (set once by `configure`, a live
// binding for the modules that import it), the served base, whether the project was just put
// in place of a warm dev server's sample, and when each change was shown to the pages.
export let config = null;
export const state = {
  base: "/", // the served base (`base` of the project's config): the page client is under it
  fresh: false, // see notify() in vite.mjs
  shownAt: new Map(), // the agent's change number -> when it was sent to the pages (ms)
  // Files whose change restarts the dev server besides Vite's own (its config, env files):
  // a framework's config, which the framework watches for itself (adapters/astro.mjs).
  restartsOn: null, // (absolute file) -> boolean
};

export function configure(value) {
  config = value;
}

export function now() {
  return performance.timeOrigin + performance.now();
}

// A number from a page, as the protocol carries it: an integer, else left out.
export function integer(value) {
  return Number.isInteger(value) ? value : undefined;
}
