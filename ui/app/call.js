/* The incoming-call panel and the call panel: controls (mute, hold, keypad, transfer, add, swap), call waiting,
 * the other calls, attended transfer and the audio quality line. Every control acts on the engine's foreground
 * call (store.foreground) or on the call its button names. */
import * as api from './api.js';
import { act, render, snack, store } from './page.js';
import { calls, foreground } from './store.js';
import { dialer } from './dialer.js';
import { DIALING_STATES, callerLabel, hasName } from './common/calls.js';
import { byId as $, h } from './common/dom.js';
import { duration, initials, secondsSince } from './common/format.js';
import { spriteIcon } from './common/icons.js';

export const panel = {
  keypadOpen: false,
  transferOpen: false,
  consult: null,                // attended transfer: {fromId, toId}
  dtmfSent: '',
};

/** All calls are over: close what belonged to them. */
export function reset() {
  Object.assign(panel, { keypadOpen: false, transferOpen: false, dtmfSent: '' });
  dialer.addingCall = false;
}

export function init() {
  const byCallId = (name) => (e) => act(api.command(name, { call_id: e.currentTarget.dataset.callId }));
  $('incoming-answer').addEventListener('click', byCallId('answer'));
  $('incoming-decline').addEventListener('click', byCallId('decline'));
  $('waiting-answer').addEventListener('click', byCallId('answer'));
  $('waiting-decline').addEventListener('click', byCallId('decline'));
  $('btn-hangup').addEventListener('click', () => hangupForeground());
  $('btn-mute').addEventListener('click', () => {
    const fg = foreground(store.state);
    if (fg) act(api.command('mute', { call_id: fg.call_id, muted: !fg.muted }));
  });
  $('btn-hold').addEventListener('click', () => {
    const fg = foreground(store.state);
    if (fg) act(api.command(fg.state === 'HELD' ? 'resume' : 'hold', { call_id: fg.call_id }));
  });
  $('btn-keypad').addEventListener('click', () => { panel.keypadOpen = !panel.keypadOpen; render(); });
  $('keypad-close').addEventListener('click', () => { panel.keypadOpen = false; render(); $('btn-keypad').focus(); });
  $('btn-add').addEventListener('click', () => { dialer.addingCall = true; render(); $('number').focus(); });
  $('btn-swap').addEventListener('click', () => act(api.command('swap')));
  $('btn-transfer').addEventListener('click', () => {
    panel.transferOpen = true; panel.keypadOpen = false; render();
    $('transfer-hint').textContent = ''; $('transfer-target').value = ''; $('transfer-target').focus();
  });
  $('transfer-cancel').addEventListener('click', () => { panel.transferOpen = false; render(); });
  const transferError = (e) => { $('transfer-hint').textContent = e.message; $('transfer-hint').className = 'field-hint error'; };
  $('transfer-blind').addEventListener('click', async () => {
    const fg = foreground(store.state), target = $('transfer-target').value.trim();
    if (!fg || !target) return;
    const r = await act(api.command('transfer', { call_id: fg.call_id, target }), transferError);
    if (r.ok) { panel.transferOpen = false; snack(`Transferring to ${target}…`); render(); }
  });
  $('transfer-consult').addEventListener('click', async () => {
    const fg = foreground(store.state), target = $('transfer-target').value.trim();
    if (!fg || !target) return;
    panel.consult = { fromId: fg.call_id, toId: null };
    const r = await act(api.command('dial', { number: target, account: fg.account }), transferError);
    if (r.ok) { panel.consult.toId = r.result.call_id; panel.transferOpen = false; render(); }
    else panel.consult = null;
  });
  $('transfer-target').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); $('transfer-blind').click(); } });
  $('attended-complete').addEventListener('click', async () => {
    const c = panel.consult;
    if (!c || !c.toId) return;
    const r = await act(api.command('transfer', { call_id: c.fromId, target: c.toId }));
    if (r.ok) snack('Transferring…');
  });
}

/** A call event: follow the consultation call (its event may come before the dial reply), drop ended ones. */
export function onCall(call, isNew) {
  const c = panel.consult;
  if (!c) return;
  if (!c.toId && isNew && call.direction === 'outbound' && call.call_id !== c.fromId) c.toId = call.call_id;
  if (!store.state.calls.has(call.call_id) && (c.fromId === call.call_id || c.toId === call.call_id)) panel.consult = null;
}

/** Esc and the red button: end the foreground call (decline it while it rings). */
export function hangupForeground() {
  const fg = foreground(store.state);
  if (!fg) return null;
  return act(api.command(fg.state === 'INCOMING' ? 'decline' : 'hangup', { call_id: fg.call_id }));
}

export async function sendDtmf(digit, call) {
  panel.dtmfSent = (panel.dtmfSent + digit).slice(-20);
  $('dtmf-sent').textContent = panel.dtmfSent;
  await act(api.command('dtmf', { digits: digit, call_id: call.call_id }));
}

/* The caller's name; a link to the contact's record in HubSpot once the CRM found it (opens in the browser). */
function setName(el, who, call) {
  el.replaceChildren();
  const url = String(call.record_url || '');
  if (url.startsWith('https://')) {
    el.append(h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', class: 'record-link',
      title: 'Open the contact in HubSpot', text: who }));
  } else {
    el.textContent = who;
  }
}

/* Under the name: company and number when the name is known, else what the caller passes. */
function detailLine(call, otherwise) {
  if (!hasName(call)) return otherwise;
  return [String(call.remote_company || '').trim(), call.remote].filter(Boolean).join(' · ');
}

function setAvatar(el, call) {
  el.replaceChildren();
  const ini = initials(call.caller_name || call.remote_name);
  if (ini) el.textContent = ini; else el.append(spriteIcon('user'));
}

export function renderIncoming(c) {
  setAvatar($('incoming-avatar'), c);
  const who = callerLabel(c);
  setName($('incoming-name'), who, c);
  $('incoming-number').textContent = detailLine(c, '');
  $('incoming-account').textContent = c.account ? `to ${c.account}` : '';
  $('incoming-answer').setAttribute('aria-label', `Answer call from ${who}`);
  $('incoming-decline').setAttribute('aria-label', `Decline call from ${who}`);
  $('incoming-answer').dataset.callId = c.call_id;
  $('incoming-decline').dataset.callId = c.call_id;
}

export function stateLine(c) {
  switch (c.state) {
    case 'OUTGOING': return 'Calling…';
    case 'RINGING': return 'Ringing…';
    case 'EARLY': return 'Ringing…';
    case 'INCOMING': return 'Incoming call';
    case 'HELD': return 'On hold · ' + duration(secondsSince(c.answered_at), { padMinutes: true });
    case 'ESTABLISHED': return (c.remote_hold ? 'Held by the other side · ' : '')
      + duration(secondsSince(c.answered_at), { padMinutes: true });
    default: return '';
  }
}

export function renderCall(c, waiting) {
  const s = store.state;
  const all = calls(s);
  const el = $('call-panel');
  el.classList.toggle('busy', all.length > 1);
  el.classList.toggle('keypad-open', panel.keypadOpen);
  el.dataset.callId = c.call_id;
  el.dataset.state = c.state;
  setAvatar($('call-avatar'), c);
  const who = callerLabel(c);
  setName($('call-name'), who, c);
  $('call-number').textContent = detailLine(c, c.account ? `via ${c.account}` : '');
  const st = $('call-state');
  st.textContent = stateLine(c);
  st.className = 'call-state' + (c.state === 'ESTABLISHED' ? '' : ' muted-state');

  const talking = c.state === 'ESTABLISHED' || c.state === 'HELD';
  const mute = $('btn-mute');
  mute.setAttribute('aria-pressed', String(!!c.muted));
  mute.querySelector('span').textContent = c.muted ? 'Unmute' : 'Mute';
  mute.setAttribute('aria-label', c.muted ? 'Unmute microphone' : 'Mute microphone');
  mute.disabled = !talking && !DIALING_STATES.has(c.state);
  const hold = $('btn-hold');
  const held = c.state === 'HELD';
  hold.setAttribute('aria-pressed', String(held));
  hold.querySelector('span').textContent = held ? 'Resume' : 'Hold';
  hold.setAttribute('aria-label', held ? 'Resume call' : 'Hold call');
  hold.querySelector('use').setAttribute('href', held ? '#i-play' : '#i-pause');
  hold.disabled = !talking;
  $('btn-keypad').setAttribute('aria-pressed', String(panel.keypadOpen));
  $('btn-keypad').disabled = !(c.state === 'ESTABLISHED' || c.state === 'EARLY');
  $('btn-transfer').disabled = !talking;
  const others = all.filter((x) => x.call_id !== c.call_id && x.state !== 'INCOMING');
  $('btn-swap').hidden = !others.some((x) => x.state === 'HELD');
  $('btn-add').hidden = !$('btn-swap').hidden;
  $('btn-add').disabled = all.length >= 4;

  $('call-keypad').hidden = !panel.keypadOpen;
  $('dtmf-sent').textContent = panel.dtmfSent;
  $('transfer-sheet').hidden = !panel.transferOpen;
  $('transfer-who').textContent = who;
  $('call-controls').hidden = panel.transferOpen;

  renderQuality(c, s.quality[c.call_id] || c.quality || null, talking);

  $('waiting').hidden = !waiting;
  if (waiting) {
    $('waiting-name').textContent = callerLabel(waiting) + (hasName(waiting) ? ` (${waiting.remote})` : '');
    $('waiting-answer').dataset.callId = waiting.call_id;
    $('waiting-decline').dataset.callId = waiting.call_id;
  }

  $('other-calls').replaceChildren(...others.map((o) => h('div', { class: 'other-call', 'data-call-id': o.call_id },
    h('div', { class: 'avatar small', 'aria-hidden': 'true' }, initials(o.caller_name || o.remote_name) || spriteIcon('user')),
    h('div', { class: 'who' }, h('b', { text: callerLabel(o) }), h('span', { text: stateLine(o) })),
    o.state === 'HELD' ? h('button', {
      type: 'button', class: 'button small', 'aria-label': `Swap to ${callerLabel(o)}`,
      onclick: () => act(api.command('resume', { call_id: o.call_id })),
    }, 'Swap') : null,
    h('button', {
      type: 'button', class: 'icon-button small end-other', 'aria-label': `Hang up ${callerLabel(o)}`, title: 'Hang up this call',
      onclick: () => act(api.command('hangup', { call_id: o.call_id })),
    }, spriteIcon('hangup')))));

  const consult = panel.consult;
  const bar = $('attended-bar');
  const from = consult && consult.toId && s.calls.get(consult.fromId), to = consult && consult.toId && s.calls.get(consult.toId);
  bar.hidden = !(from && to);
  if (from && to) {
    $('attended-text').textContent = `Consulting ${callerLabel(to)} · transfer ${callerLabel(from)}`;
    $('attended-complete').disabled = !(to.state === 'ESTABLISHED' || to.state === 'HELD');
  }
  $('btn-hangup').setAttribute('aria-label', `Hang up call with ${who}`);
}

function renderQuality(c, q, talking) {
  const el = $('quality');
  if (!(talking && (q || c.codec))) { el.hidden = true; return; }
  el.hidden = false;
  const level = qualityLevel(q);
  el.dataset.level = String(level || 0);
  const parts = [];
  const word = ['', 'Poor', 'Fair', 'Good', 'Excellent'][level] || '';
  if (word) parts.push(word);
  if (c.codec) parts.push(codecLabel(c.codec));
  if (q && typeof q.loss_pct === 'number' && q.loss_pct >= 1) parts.push(`${q.loss_pct.toFixed(0)}% loss`);
  $('quality-text').textContent = parts.join(' · ');
  el.querySelector('.bars').hidden = !level;
  el.setAttribute('aria-label', 'Audio quality: ' + (parts.join(', ') || 'unknown'));
}

function codecLabel(codec) {
  const [name, rate] = String(codec).split('/');
  const nice = { PCMU: 'G.711 µ-law', PCMA: 'G.711 A-law', G722: 'G.722', speex: 'Speex', GSM: 'GSM', iLBC: 'iLBC', opus: 'Opus' }[name] || name;
  const khz = Number(rate) / 1000;
  const hd = Number(rate) >= 16000 || name === 'G722' ? 'HD voice · ' : '';
  return hd + nice + (khz ? ` ${khz} kHz` : '');
}

function qualityLevel(q) {
  if (!q) return 0;
  if (typeof q.mos === 'number') return q.mos >= 4 ? 4 : q.mos >= 3.6 ? 3 : q.mos >= 3.1 ? 2 : 1;
  if (typeof q.loss_pct === 'number' || typeof q.jitter_ms === 'number') {
    const loss = q.loss_pct || 0, jit = q.jitter_ms || 0;
    if (loss < 1 && jit < 30) return 4;
    if (loss < 3 && jit < 50) return 3;
    if (loss < 8) return 2;
    return 1;
  }
  return 0;
}

/** Every 3 s while talking: the engine's audio figures for the foreground call (status calls[].audio.quality). */
export async function pollQuality() {
  const fg = foreground(store.state);
  if (!fg || fg.state !== 'ESTABLISHED' || document.hidden) return;
  const r = await api.command('status');
  if (!r.ok) return;
  const live = (r.result.calls || []).find((c) => c.call_id === fg.call_id);
  const q = live && live.audio && live.audio.quality;
  if (q) store.dispatch({ type: 'quality', call_id: fg.call_id, quality: q });
}
