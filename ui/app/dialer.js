/* The dialer: the number field (typed, pasted or keyed in, checked by the engine as you go), the account to call
 * from, and the summary of the last call with its note. */
import * as api from './api.js';
import { act, render, showView, snack, store } from './page.js';
import { calls, primaryAccount } from './store.js';
import { END_STATUS, callerLabel } from './common/calls.js';
import { byId as $, h } from './common/dom.js';
import { duration } from './common/format.js';

export const dialer = {
  addingCall: false,            // the rep opened the dialer from a call ("Add call")
  lastEnded: null,              // the call that just ended, for its summary and note
};

export function init() {
  const number = $('number');
  number.addEventListener('paste', onPaste);
  number.addEventListener('input', () => {
    const clean = number.value.replace(/[^0-9A-Za-z+*#@:;=._\-()/ ]/g, '');
    if (clean !== number.value) number.value = clean;
    schedulePreview();
  });
  $('call-button').addEventListener('click', () => dial());
  $('backspace').addEventListener('click', () => { number.value = number.value.slice(0, -1); schedulePreview(); number.focus(); });
  $('last-call-close').addEventListener('click', () => { dialer.lastEnded = null; render(); });
  $('last-call-save').addEventListener('click', async () => {
    const last = dialer.lastEnded;
    if (!last) return;
    const notes = $('last-call-notes').value, disposition = $('last-call-disposition').value;
    const r = await act(api.command('set_outcome', { call_id: last.call_id, notes, disposition }));
    if (r.ok) { dialer.lastEnded = { ...last, notes, disposition }; $('last-call-editor').hidden = true; snack('Note saved.'); render(); }
  });
}

/** A call left the store: remember it for the summary line. */
export function callEnded(call) { dialer.lastEnded = call; }

export function renderDialer() {
  const s = store.state;
  const sel = $('dial-account');
  const accounts = s.accounts;
  sel.hidden = accounts.length < 2;
  if (accounts.length >= 2) {
    const cur = sel.value;
    const names = accounts.map((a) => a.name).join('\u0000');
    if (sel.dataset.names !== names) {
      sel.replaceChildren(...accounts.map((a) => h('option', { value: a.name, text: a.name })));
      sel.dataset.names = names;
      if (cur && accounts.some((a) => a.name === cur)) sel.value = cur;
      else sel.value = (primaryAccount(s) || accounts[0]).name;
    }
  }
  $('call-button').disabled = !s.connected;
  const last = dialer.lastEnded;
  const n = calls(s).length;
  const note = $('last-call-note');
  if (n) {
    $('last-call').hidden = false;
    $('last-call-text').textContent = `${n} call${n > 1 ? 's' : ''} in progress`;
    note.textContent = 'Back to call';
    note.onclick = () => { dialer.addingCall = false; render(); };
    $('last-call-close').hidden = true;
    $('last-call-editor').hidden = true;
  } else if (last) {
    $('last-call').hidden = false;
    $('last-call-close').hidden = false;
    const status = (END_STATUS[last.end_status] || ['Ended'])[0];
    const dur = last.answered_at ? ' · ' + duration(last.duration_s || 0, { padMinutes: true }) : '';
    $('last-call-text').textContent = `${callerLabel(last)} · ${status}${dur}`;
    note.textContent = last.notes ? 'Edit note' : 'Add note';
    note.onclick = () => {
      const editor = $('last-call-editor');
      editor.hidden = !editor.hidden;
      $('last-call-notes').value = last.notes || '';
      $('last-call-disposition').value = last.disposition || '';
      if (!editor.hidden) $('last-call-notes').focus();
    };
  } else {
    $('last-call').hidden = true;
  }
}

export function numberHint(text, cls) {
  const el = $('number-hint');
  el.textContent = text || '\u00a0';
  el.className = 'number-hint' + (cls ? ' ' + cls : '');
}

/** The number and the chosen account (when the rep has several). */
function numberArgs(number) {
  const args = { number };
  const sel = $('dial-account');
  if (!sel.hidden && sel.value) args.account = sel.value;
  return args;
}

export async function dial(number) {
  number = (number === undefined ? $('number').value : number).trim();
  if (!number) { numberHint('Type or paste a number first.', 'error'); $('number').focus(); return null; }
  numberHint('Calling…');
  const r = await api.command('dial', numberArgs(number));
  if (r.ok) {
    $('number').value = '';
    numberHint('');
    dialer.addingCall = false;
    dialer.lastEnded = null;
    showView('phone');
  } else {
    numberHint(r.error.message, 'error');
  }
  return r;
}

/** Call a number from elsewhere (history's call back) on the given account when it still exists. */
export async function callBack(number, account) {
  showView('phone');
  const args = { number };
  if (account && store.state.accounts.some((a) => a.name === account)) args.account = account;
  const r = await api.command('dial', args);
  if (!r.ok) numberHint(r.error.message, 'error');
  else { dialer.lastEnded = null; render(); }
}

/** Fill the field (the first-run guide's demo number) with a hint. */
export function prefill(number, hint, account) {
  if (account && !$('dial-account').hidden) $('dial-account').value = account;
  $('number').value = number;
  numberHint(hint, 'ok');
  $('number').focus();
}

export function typeDigit(digit, focus) {
  $('number').value += digit;
  if (focus) $('number').focus();
  schedulePreview();
}

export function backspace() {
  $('number').value = $('number').value.slice(0, -1);
  schedulePreview();
}

let previewTimer = null;
function schedulePreview() {
  clearTimeout(previewTimer);
  const value = $('number').value.trim();
  if (!value) { numberHint(''); return; }
  previewTimer = setTimeout(async () => {
    if ($('number').value.trim() !== value) return;
    const digits = value.replace(/\D/g, '');
    if (digits.length < 7 && !/^sips?:/i.test(value)) { numberHint(''); return; }
    const r = await api.command('normalize', numberArgs(value));
    if ($('number').value.trim() !== value) return;
    if (r.ok) numberHint(r.result.display !== value ? 'Calls ' + r.result.display : '', 'ok');
    else if (r.error.code === 'invalid_number') numberHint(r.error.message, 'error');
    else numberHint('');
  }, 350);
}

async function onPaste(ev) {
  const text = (ev.clipboardData || window.clipboardData).getData('text') || '';
  if (!text.trim()) return;
  ev.preventDefault();
  const raw = text.trim().slice(0, 256);
  const r = await api.command('normalize', numberArgs(raw));
  const input = $('number');
  if (r.ok) {
    input.value = r.result.display;
    numberHint(raw !== r.result.display ? `Pasted “${raw.length > 28 ? raw.slice(0, 27) + '…' : raw}”` : '', 'ok');
  } else {
    input.value = raw.replace(/[\r\n\t]+/g, ' ');
    const invalid = r.error.code === 'invalid_number';
    numberHint(invalid ? r.error.message : '', invalid ? 'error' : '');
  }
  input.focus();
}
