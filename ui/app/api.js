/* The window's only door to Python: pywebview's js_api (softphone/desktop/bridge.py) and the engine's event feed.
 *
 *   command(name, args) -> {ok, result} | {ok: false, error: {code, message}}   an engine command (the registry
 *                                                                              in softphone/commands.py says which)
 *   hello(), setPref(k, v), missedSeen(), startEngine(), quit()                 the desktop shell
 *   onEvents(fn)                                                                engine events, pushed by Python
 *                                                                              (softphone/desktop/pump.py PageFeed)
 */

function bridge() { return window.pywebview && window.pywebview.api; }
function bridgeReady() { const a = bridge(); return !!(a && typeof a.command === 'function'); }

// pywebview fills window.pywebview.api asynchronously: wait for its functions (bounded) before a call
export const ready = new Promise((resolve) => {
  if (bridgeReady()) { resolve(true); return; }
  window.addEventListener('pywebviewready', () => resolve(true));
  const t0 = Date.now();
  const poll = setInterval(() => {
    if (bridgeReady() || Date.now() - t0 > 15000) { clearInterval(poll); resolve(bridgeReady()); }
  }, 50);
});

const NOT_READY = { ok: false, error: { code: 'not_ready', message: 'The window is still starting.' } };

async function call(method, ...args) {
  if (!bridgeReady()) await ready;
  if (!bridgeReady()) return NOT_READY;
  try {
    return await bridge()[method](...args);
  } catch (e) {
    return { ok: false, error: { code: 'bridge', message: String((e && e.message) || e) } };
  }
}

export const command = (name, args) => call('command', name, args || {});
export const hello = () => call('hello');
export const setPref = (key, value) => call('set_pref', key, value);
export const missedSeen = () => call('missed_seen');
export const startEngine = () => call('start_engine');
export const quit = () => call('quit');

const listeners = [];

/** fn(event) for every engine event Python pushes (in order). */
export function onEvents(fn) { listeners.push(fn); }

/** Python's entry point (window.softphoneApp.onEvent). */
export function deliver(event) { for (const fn of listeners) fn(event); }
