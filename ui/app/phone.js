/* The Phone tab: the dialer, the incoming-call panel or the call panel, whichever fits the engine's state, and
 * the keys a rep uses without the mouse (Enter dials or answers, Esc hangs up, digits dial or send DTMF). */
import * as api from './api.js';
import * as call from './call.js';
import { backspace, dial, dialer, renderDialer, typeDigit } from './dialer.js';
import { act, inTextField, page, store } from './page.js';
import { foreground, ringing } from './store.js';
import { byId as $, h } from './common/dom.js';

const KEYS = [['1', ''], ['2', 'ABC'], ['3', 'DEF'], ['4', 'GHI'], ['5', 'JKL'], ['6', 'MNO'],
  ['7', 'PQRS'], ['8', 'TUV'], ['9', 'WXYZ'], ['*', ''], ['0', '+'], ['#', '']];

let mode = 'dialer';

export function init() {
  buildPad($('dialpad'), pressKey);
  buildPad($('dtmfpad'), (d) => { const fg = panelCall(); if (fg) call.sendDtmf(d, fg); });
  call.init();
  setInterval(() => { if (store.state.calls.size) renderPhone(); }, 1000);
  setInterval(call.pollQuality, 3000);
}

/** The engine's foreground call when it is one the call panel shows (not one still ringing in). */
function panelCall() {
  const fg = foreground(store.state);
  return fg && fg.state !== 'INCOMING' ? fg : null;
}

/** The foreground call while digits go to it as DTMF. */
function talkingCall() {
  const fg = panelCall();
  return fg && !dialer.addingCall && (fg.state === 'ESTABLISHED' || fg.state === 'EARLY') ? fg : null;
}

export function renderPhone() {
  const fg = panelCall();
  const rings = ringing(store.state);
  const fgAny = foreground(store.state);
  const showIncoming = !fg && rings.length > 0;
  const showCall = !!fg && !dialer.addingCall;
  const next = showIncoming ? 'incoming' : showCall ? 'call' : 'dialer';
  const changed = next !== mode;
  mode = next;
  $('incoming').hidden = !showIncoming;
  $('call-panel').hidden = !showCall;
  $('dialer').hidden = showIncoming || showCall;
  if (changed && page.view === 'phone' && $('guide').hidden) {
    // keyboard users land where the next action is; nothing destructive gets the focus
    const target = { incoming: 'incoming-answer', call: 'call-panel', dialer: 'number' }[mode];
    setTimeout(() => { const el = $(target); if (el && !inTextField(document.activeElement)) el.focus(); }, 0);
  }
  if (showIncoming) call.renderIncoming(fgAny && fgAny.state === 'INCOMING' ? fgAny : rings[0]);
  if (showCall) call.renderCall(fg, rings[0]);
  if (!showIncoming && !showCall) renderDialer();
}

/** The panel the rep sees (tests read it through softphoneApp.debug). */
export function panelShown() {
  if (!$('call-panel').hidden) return 'call';
  return $('incoming').hidden ? 'dialer' : 'incoming';
}

function pressKey(digit) {
  const fg = talkingCall();
  if (fg && page.view === 'phone') { call.sendDtmf(digit, fg); return; }
  typeDigit(digit, false);
}

/** Phone keys; returns true when the key was used. */
export function onKey(e) {
  const target = e.target;
  const typing = inTextField(target);
  if (e.key === 'Escape') {
    if (call.panel.transferOpen) { call.panel.transferOpen = false; renderPhone(); e.preventDefault(); return true; }
    if (foreground(store.state)) { e.preventDefault(); call.hangupForeground(); return true; }
    return false;
  }
  if (page.view !== 'phone') return false;
  if (e.key === 'Enter') {
    const fg = foreground(store.state);
    if (fg && fg.state === 'INCOMING' && !panelCall() && !typing) {
      e.preventDefault();
      act(api.command('answer', { call_id: fg.call_id }));
      return true;
    }
    if (!$('dialer').hidden && (target === $('number') || !typing) && !(target && target.tagName === 'BUTTON')) {
      e.preventDefault();
      dial();
      return true;
    }
    return false;
  }
  if (/^[0-9*#]$/.test(e.key) && !typing) {
    const fg = talkingCall();
    if (fg) {
      e.preventDefault();
      call.sendDtmf(e.key, fg);
      flashKey(e.key);
      return true;
    }
    if (!$('dialer').hidden) {
      e.preventDefault();
      typeDigit(e.key, true);
      return true;
    }
    return false;
  }
  if (e.key === 'Backspace' && !typing && !$('dialer').hidden) {
    e.preventDefault();
    backspace();
    return true;
  }
  return false;
}

function flashKey(d) {
  const key = document.querySelector(`#dtmfpad .key[data-digit="${CSS.escape(d)}"]`);
  if (!key) return;
  key.classList.add('pressed');
  setTimeout(() => key.classList.remove('pressed'), 120);
}

function buildPad(container, onDigit) {
  for (const [d, l] of KEYS) {
    const key = h('button', {
      type: 'button', class: 'key', 'data-digit': d, 'aria-label': d === '*' ? 'Star' : d === '#' ? 'Pound' : `${d}${l ? ' ' + l : ''}`,
    }, h('span', { class: 'd', text: d }), h('span', { class: 'l', text: l }));
    let longTimer = null, longFired = false;
    if (d === '0') {
      key.addEventListener('pointerdown', () => {
        longFired = false;
        longTimer = setTimeout(() => { longFired = true; onDigit('+'); }, 550);
      });
      const cancel = () => clearTimeout(longTimer);
      key.addEventListener('pointerup', cancel);
      key.addEventListener('pointerleave', cancel);
    }
    key.addEventListener('click', () => { if (!longFired) onDigit(d); longFired = false; });
    container.append(key);
  }
}
