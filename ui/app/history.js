/* The History tab: the engine's call history (SQLite), searchable and filtered, with notes and call back. */
import * as api from './api.js';
import { callBack } from './dialer.js';
import { act, snack } from './page.js';
import { ACTIVE_STATES, END_STATUS } from './common/calls.js';
import { byId as $, h } from './common/dom.js';
import { dayOrTime, duration } from './common/format.js';
import { spriteIcon } from './common/icons.js';

const OUTCOMES = ['Connected', 'Left voicemail', 'No answer', 'Wrong number', 'Busy', 'Call back later'];

export const history = { filter: 'all', query: '', rows: [], open: null };

export function init() {
  let searchTimer = null;
  $('history-search').addEventListener('input', (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { history.query = e.target.value.trim(); load(); }, 250);
  });
  for (const chip of document.querySelectorAll('.chip')) {
    chip.addEventListener('click', () => {
      history.filter = chip.dataset.filter;
      for (const c of document.querySelectorAll('.chip')) c.setAttribute('aria-checked', String(c === chip));
      load();
    });
  }
}

let seq = 0;
export async function load() {
  const mine = ++seq;
  const args = { limit: 200 };
  if (history.query) args.query = history.query;
  if (history.filter === 'missed') args.status = 'MISSED';
  if (history.filter === 'inbound' || history.filter === 'outbound') args.direction = history.filter;
  const r = await api.command('history', args);
  if (mine !== seq) return;
  history.rows = r.ok ? (r.result.calls || []) : [];
  render(r.ok ? undefined : r.error.message);
}

function status(row) {
  if (!row.end_status) return ACTIVE_STATES.has(row.state) ? 'In progress' : '';
  return (END_STATUS[row.end_status] || [row.end_status])[0];
}

const clock = (s) => duration(s, { padMinutes: true });

function render(error) {
  const rows = history.rows;
  const empty = $('history-empty');
  empty.hidden = rows.length > 0;
  empty.querySelector('p').textContent = error || (history.query || history.filter !== 'all'
    ? 'No calls match.' : 'No calls yet. Calls you make and receive appear here.');
  $('history-list').replaceChildren(...rows.map((row) => {
    const missed = row.end_status === 'MISSED';
    const name = (row.remote_name || '').trim() || row.remote;
    const bits = [status(row)];
    if (row.answered_at && row.duration_s) bits.push(clock(row.duration_s));
    if (row.remote_name) bits.push(row.remote);
    const open = history.open === row.call_id;
    const toggle = () => { history.open = open ? null : row.call_id; render(); };
    const main = h('div', {
      class: 'h-main', role: 'button', tabindex: '0', 'aria-expanded': String(open),
      'aria-label': `${row.direction === 'inbound' ? 'Incoming' : 'Outgoing'} call ${missed ? 'missed ' : ''}${name}, ${bits.join(', ')}, ${dayOrTime(row.started_at)}. Show details`,
      onclick: toggle,
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(); } },
    },
    h('span', { class: 'h-dir' + (missed ? ' missed' : ''), 'aria-hidden': 'true' }, spriteIcon(row.direction === 'inbound' ? 'in' : 'out')),
    h('span', { class: 'h-text' },
      h('div', { class: 'h-name' + (missed ? ' missed' : ''), text: name }),
      h('div', { class: 'h-sub', text: bits.filter(Boolean).join(' · ') })),
    h('span', { class: 'h-when', text: dayOrTime(row.started_at) }),
    h('button', {
      type: 'button', class: 'icon-button h-call', 'aria-label': `Call back ${name}`, title: `Call ${row.remote}`,
      onclick: (e) => { e.stopPropagation(); callBack(row.remote, row.account); },
    }, spriteIcon('phone')));
    const li = h('li', { class: 'h-row', 'data-call-id': row.call_id }, main);
    if (open) li.append(detail(row));
    return li;
  }));
}

function detail(row) {
  const when = row.started_at ? new Date(row.started_at).toLocaleString() : '';
  const sip = row.sip_code ? `${row.sip_code} ${row.reason || ''}` : (row.reason || '');
  const notes = h('textarea', { rows: '2', placeholder: 'Notes', 'aria-label': 'Call notes' });
  notes.value = row.notes || '';
  const outcome = h('select', { 'aria-label': 'Outcome' },
    ['', ...OUTCOMES].map((o) => h('option', { value: o, text: o || 'Outcome…' })));
  if (row.disposition && !OUTCOMES.includes(row.disposition)) {
    outcome.append(h('option', { value: row.disposition, text: row.disposition }));
  }
  outcome.value = row.disposition || '';
  const save = h('button', {
    type: 'button', class: 'button primary small',
    onclick: async () => {
      const r = await act(api.command('set_outcome', { call_id: row.call_id, notes: notes.value, disposition: outcome.value }));
      if (r.ok) { snack('Saved.'); load(); }
    },
  }, 'Save');
  return h('div', { class: 'h-detail' },
    h('dl', {},
      h('dt', { text: 'When' }), h('dd', { text: when }),
      h('dt', { text: 'Number' }), h('dd', { text: row.remote }),
      h('dt', { text: 'Account' }), h('dd', { text: row.account }),
      h('dt', { text: 'Status' }), h('dd', { text: status(row) + (row.answered_at ? ' · ' + clock(row.duration_s) : '') }),
      sip ? h('dt', { text: 'Reason' }) : null, sip ? h('dd', { text: sip }) : null),
    h('div', { class: 'note-editor' }, notes, h('div', { class: 'note-row' }, outcome, save)));
}
