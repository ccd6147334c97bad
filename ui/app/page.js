/* What the window's views share: the engine store, the page's own state (which tab, theme, shell info), and
 * small page-wide helpers (snackbar, screen-reader announcements, "act on a command reply"). Views never import
 * each other: they move between tabs with showView and ask for a redraw with render, both wired by main.js. */
import { createStore } from './store.js';
import { byId, flash } from './common/dom.js';

export const store = createStore();

export const page = {
  view: 'phone',
  info: null,                   // the shell's hello(): version, prefs, data_dir, started_engine
  prefs: { theme: 'system', first_run_done: true },
  systemDark: false,
  bootAt: Date.now(),
};

const hooks = { showView: () => {}, render: () => {} };

/** main.js gives the navigation and the redraw. */
export function wire(fns) { Object.assign(hooks, fns); }
export const showView = (view) => hooks.showView(view);
export const render = () => hooks.render();

export function snack(message, level) {
  flash(byId('snackbar'), message, level === 'error' ? 'error' : 'info', level === 'error' ? 7000 : 4000);
}

export function announce(text) { byId('announcer').textContent = text; }

/** Await a command; show its error (snackbar, or onError) when it failed. */
export async function act(promise, onError) {
  const r = await promise;
  if (!r.ok) {
    if (onError) onError(r.error); else snack(r.error.message, 'error');
  }
  return r;
}

export function inTextField(el) {
  if (!el) return false;
  const tag = el.tagName;
  return tag === 'TEXTAREA' || tag === 'SELECT' || (tag === 'INPUT' && !['checkbox', 'radio', 'button'].includes(el.type));
}

export function applyTheme() {
  const pref = page.prefs.theme || 'system';
  const mq = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  const dark = pref === 'dark' || (pref === 'system' && (page.systemDark || mq));
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
}
