/* Softphone desktop window: wires the engine store, the tabs and the keyboard, and gives Python its entry points
 * (window.softphoneApp: onEvent for the event feed, setSystemDark, showView, debug for tests).
 *
 * The page keeps no truth of its own: calls and the foreground call come from engine events (store.js),
 * history from the engine's SQLite. Modules: api (the bridge), store (engine state), page (shared page state),
 * topbar, phone (dialer.js, call.js), history, settings, guide; helpers shared with the HubSpot widget and the
 * CRM sandbox live in ui/common (served to this page as ./common/).
 */
import * as api from './api.js';
import * as call from './call.js';
import { callEnded, dialer, init as initDialer, prefill } from './dialer.js';
import * as guide from './guide.js';
import * as history from './history.js';
import { announce, applyTheme, page, snack, store, wire } from './page.js';
import * as phone from './phone.js';
import * as settings from './settings.js';
import { calls, foreground, ringing } from './store.js';
import * as topbar from './topbar.js';
import { ACTIVE_STATES, callerLabel } from './common/calls.js';
import { byId as $ } from './common/dom.js';

const TABS = ['phone', 'history', 'settings'];

function render() {
  guide.render();
  topbar.render();
  phone.renderPhone();
  document.title = 'Softphone';
}

function showView(view) {
  page.view = view;
  for (const v of TABS) {
    $('view-' + v).hidden = v !== view;
    const tab = $('tab-' + v);
    tab.setAttribute('aria-selected', String(v === view));
    tab.tabIndex = v === view ? 0 : -1;
  }
  if (view === 'history') {
    seenMissed();
    history.load();
  }
  if (view === 'settings') settings.render();
  if (view === 'phone' && !foreground(store.state) && !ringing(store.state).length) setTimeout(() => $('number').focus(), 0);
  render();
}

function seenMissed() {
  store.dispatch({ type: 'missed_seen' });
  api.missedSeen();
}

// ------------------------------------------------------------------ engine events

function onEvent(ev) {
  if (ev.type === 'notice') {
    if (ev.message) snack(ev.message, ev.level);
    return;
  }
  store.dispatch(ev);
}

store.subscribe((state, previous, ev) => {
  if (ev.type === 'engine' && ev.connected) {
    if (page.view === 'history') history.load();
    if (page.view === 'settings') settings.render();
  }
  if (ev.type === 'call' && ev.call && ev.call.call_id) onCall(ev.call, ev.previous_state, state, previous);
  render();
});

function onCall(c, previousState, state, before) {
  const had = before.calls.has(c.call_id);
  call.onCall(c, !had);
  if (ACTIVE_STATES.has(c.state)) {
    if (c.state === 'ESTABLISHED' && previousState !== 'ESTABLISHED' && previousState !== 'HELD') {
      announce(`Connected to ${callerLabel(c)}`);
    }
    if (c.state === 'INCOMING' && !had) {
      announce(`Incoming call from ${callerLabel(c)}`);
      if (page.view !== 'phone') showView('phone');
    }
    return;
  }
  if (state.missed > before.missed && page.view === 'history') queueMicrotask(seenMissed);
  if (had) {
    callEnded(c);
    announce(`Call with ${callerLabel(c)} ended`);
  }
  if (!state.calls.size) call.reset();
  if (page.view === 'history') history.load();
}

// ------------------------------------------------------------------ keyboard and tabs

function onKey(e) {
  if (guide.isOpen()) {
    if (e.key === 'Escape') { e.preventDefault(); guide.close(); }
    return;
  }
  if (e.ctrlKey && !e.altKey && ['1', '2', '3'].includes(e.key)) {
    e.preventDefault();
    showView(TABS[Number(e.key) - 1]);
    return;
  }
  if (e.ctrlKey || e.altKey || e.metaKey) return;
  phone.onKey(e);
}

function wireTabs() {
  for (const v of TABS) $('tab-' + v).addEventListener('click', () => showView(v));
  document.querySelector('.tabs').addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const next = TABS[(TABS.indexOf(page.view) + (e.key === 'ArrowRight' ? 1 : 2)) % 3];
    showView(next);
    $('tab-' + next).focus();
  });
}

// ------------------------------------------------------------------ start

async function init() {
  const info = await api.hello();
  page.info = info && info.ok !== false ? info : {};
  page.prefs = page.info.prefs || page.prefs;
  page.systemDark = !!page.info.dark;
  applyTheme();
  if (!page.prefs.first_run_done) guide.open();
  // events pushed before this page finished loading were dropped: start from a fresh snapshot
  const st = await api.command('status');
  if (st.ok) store.dispatch({ type: 'status', status: st.result });
  render();
}

// the Python side (PageFeed, evaluate_js) and tests
window.softphoneApp = {
  onEvent: api.deliver,
  setSystemDark(dark) { page.systemDark = !!dark; applyTheme(); },
  showView,
  /** A tel:/sip:/callto: link: fill the dialer and let the rep press Call (a web page must not dial alone). */
  offerLink(number) { showView('phone'); prefill(String(number), 'From a link: press Call or Enter to dial.'); },
  debug() {
    const s = store.state;
    return {
      view: page.view, engine: { connected: s.connected, message: s.message, everConnected: s.everConnected },
      available: s.available, loggedIn: s.loggedIn, foregroundCallId: s.foregroundCallId,
      calls: calls(s), foreground: foreground(s), lastEnded: dialer.lastEnded, missed: s.missed, accounts: s.accounts,
      history: history.history.rows.map((r) => ({ call_id: r.call_id, remote: r.remote, direction: r.direction, end_status: r.end_status })),
      panel: phone.panelShown(), callState: $('call-state').textContent, hint: $('number-hint').textContent,
      number: $('number').value, guide: guide.isOpen(), theme: document.documentElement.dataset.theme,
    };
  },
};

api.onEvents(onEvent);
wire({ showView, render });
topbar.init();
initDialer();
phone.init();
history.init();
settings.init(guide.open);
guide.init();
wireTabs();
document.addEventListener('keydown', onKey);
applyTheme();
render();
if (window.matchMedia) window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', applyTheme);
api.ready.then(init);
setTimeout(() => { if (!store.state.connected) topbar.render(); }, 8500);
