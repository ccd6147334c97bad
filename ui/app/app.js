/* Softphone desktop window. Talks to Python only through pywebview's js_api (window.pywebview.api):
 *   api.command(name, args) -> {ok, result} | {ok: false, error: {code, message}}   (engine control API)
 *   api.hello(), api.set_pref(k, v), api.missed_seen(), api.start_engine(), api.hide_window(), api.quit()
 * Engine events arrive through window.softphoneApp.onEvent(event) (pushed with evaluate_js).
 * The page keeps no truth of its own: calls come from engine events, history from the engine's SQLite.
 */
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const ACTIVE = new Set(['OUTGOING', 'RINGING', 'EARLY', 'INCOMING', 'ESTABLISHED', 'HELD']);
  const DIALING = new Set(['OUTGOING', 'RINGING', 'EARLY']);
  const STATUS_LABEL = {
    COMPLETED: 'Completed', MISSED: 'Missed', NO_ANSWER: 'No answer', BUSY: 'Busy',
    REJECTED: 'Declined', CANCELED: 'Cancelled', FAILED: 'Failed',
  };
  const KEYS = [['1', ''], ['2', 'ABC'], ['3', 'DEF'], ['4', 'GHI'], ['5', 'JKL'], ['6', 'MNO'],
    ['7', 'PQRS'], ['8', 'TUV'], ['9', 'WXYZ'], ['*', ''], ['0', '+'], ['#', '']];

  const S = {
    engine: { connected: false, message: '', everConnected: false },
    available: true,
    loggedIn: false,
    accounts: [],
    calls: new Map(),
    lastEnded: null,
    view: 'phone',
    addingCall: false,
    phoneMode: 'dialer',
    keypadOpen: false,
    transferOpen: false,
    consult: null,          // {fromId, toId, label}
    dtmfSent: '',
    missed: 0,
    prefs: { theme: 'system', first_run_done: true },
    systemDark: false,
    info: null,
    history: { filter: 'all', query: '', rows: [], open: null },
    quality: {},            // call_id -> stats
    missing: new Set(),     // engine commands this engine does not have
  };

  // ------------------------------------------------------------------ engine access

  function api() { return window.pywebview && window.pywebview.api; }
  function apiReady() { const a = api(); return !!(a && typeof a.command === 'function'); }
  // pywebview fills window.pywebview.api asynchronously: wait for its functions (bounded) before a call
  const bridgeReady = new Promise((resolve) => {
    if (apiReady()) { resolve(true); return; }
    window.addEventListener('pywebviewready', () => resolve(true));
    const t0 = Date.now();
    const poll = setInterval(() => {
      if (apiReady() || Date.now() - t0 > 15000) { clearInterval(poll); resolve(apiReady()); }
    }, 50);
  });

  async function cmd(name, args) {
    if (!apiReady()) await bridgeReady;
    const a = api();
    if (!apiReady()) return { ok: false, error: { code: 'not_ready', message: 'The window is still starting.' } };
    try {
      const r = await a.command(name, args || {});
      if (!r.ok && r.error && (r.error.code === 'unknown_command' || /Unknown command/.test(r.error.message || ''))) {
        S.missing.add(name);
      }
      return r;
    } catch (e) {
      return { ok: false, error: { code: 'bridge', message: String(e && e.message || e) } };
    }
  }

  function unsupported(name) { return S.missing.has(name); }

  // ------------------------------------------------------------------ small helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c.nodeType ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function icon(name) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('aria-hidden', 'true');
    const use = document.createElementNS(ns, 'use');
    use.setAttribute('href', '#i-' + name);
    svg.append(use);
    return svg;
  }

  function label(call) { return (call.remote_name || '').trim() || call.remote || 'Unknown'; }

  function initials(call) {
    const name = (call.remote_name || '').trim();
    if (!name) return null;
    const parts = name.split(/\s+/).filter(Boolean);
    return ((parts[0] || '')[0] + ((parts.length > 1 ? parts[parts.length - 1][0] : '') || '')).toUpperCase();
  }

  function setAvatar(el, call) {
    el.replaceChildren();
    const ini = initials(call);
    if (ini) el.textContent = ini; else el.append(icon('user'));
  }

  function fmtDuration(s) {
    s = Math.max(0, Math.floor(s || 0));
    const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
    const two = (n) => String(n).padStart(2, '0');
    return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${two(mm)}:${two(ss)}`;
  }

  function since(iso) { return iso ? (Date.now() - Date.parse(iso)) / 1000 : 0; }

  function fmtWhen(iso) {
    if (!iso) return '';
    const d = new Date(iso), now = new Date();
    const day = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
    const diff = Math.round((day(now) - day(d)) / 86400000);
    const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (diff === 0) return time;
    if (diff === 1) return 'Yesterday';
    if (diff < 7) return d.toLocaleDateString([], { weekday: 'short' });
    return d.toLocaleDateString([], { day: 'numeric', month: 'short' });
  }

  let snackTimer = null;
  function snack(message, level) {
    const el = $('snackbar');
    el.textContent = message;
    el.className = 'snackbar' + (level === 'error' ? ' error' : '');
    el.hidden = false;
    clearTimeout(snackTimer);
    snackTimer = setTimeout(() => { el.hidden = true; }, level === 'error' ? 7000 : 4000);
  }

  function announce(text) { $('announcer').textContent = text; }

  function inTextField(el) {
    if (!el) return false;
    const tag = el.tagName;
    return tag === 'TEXTAREA' || tag === 'SELECT' || (tag === 'INPUT' && !['checkbox', 'radio', 'button'].includes(el.type));
  }

  // ------------------------------------------------------------------ theme

  function applyTheme() {
    const pref = S.prefs.theme || 'system';
    const mq = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
    const dark = pref === 'dark' || (pref === 'system' && (S.systemDark || mq));
    document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  }

  // ------------------------------------------------------------------ event intake

  function onEvent(ev) {
    switch (ev.type) {
      case 'engine':
        S.engine.connected = !!ev.connected;
        S.engine.message = ev.message || '';
        if (ev.connected) {
          S.engine.everConnected = true;
          if (S.view === 'history') loadHistory();
          if (S.view === 'settings') renderSettings();
        } else {
          S.calls.clear();
        }
        break;
      case 'status': {
        const st = ev.status || {};
        S.engine.connected = true;
        S.engine.everConnected = true;
        S.available = st.available !== false;
        S.loggedIn = !!st.logged_in;
        S.accounts = st.accounts || [];
        S.calls = new Map((st.calls || []).filter((c) => ACTIVE.has(c.state)).map((c) => [c.call_id, c]));
        break;
      }
      case 'call': onCall(ev.call, ev.previous_state); break;
      case 'registration': {
        const acc = S.accounts.find((a) => a.name === ev.account);
        if (acc) Object.assign(acc, { registration: ev.state, sip_code: ev.sip_code, reason: ev.reason || '' });
        S.loggedIn = S.accounts.some((a) => a.registration === 'REGISTERED' || a.registration === 'NONE');
        break;
      }
      case 'availability': S.available = !!ev.available; break;
      case 'notice': if (ev.message) snack(ev.message, ev.level); break;
      default: break;
    }
    render();
  }

  function onCall(call, previous) {
    if (!call || !call.call_id) return;
    const had = S.calls.get(call.call_id);
    if (ACTIVE.has(call.state)) {
      S.calls.set(call.call_id, call);
      if (call.state === 'ESTABLISHED' && previous !== 'ESTABLISHED' && previous !== 'HELD') {
        announce(`Connected to ${label(call)}`);
      }
      if (call.state === 'INCOMING' && !had) {
        announce(`Incoming call from ${label(call)}`);
        if (S.view !== 'phone') showView('phone');
      }
      if (S.consult && !S.consult.toId && call.direction === 'outbound' && !had && call.call_id !== S.consult.fromId) {
        S.consult.toId = call.call_id;
      }
    } else {
      S.calls.delete(call.call_id);
      delete S.quality[call.call_id];
      if (S.consult && (S.consult.fromId === call.call_id || S.consult.toId === call.call_id)) S.consult = null;
      if (call.direction === 'inbound' && call.end_status === 'MISSED') {
        if (S.view === 'history') apiReady() && api().missed_seen(); else S.missed += 1;
      }
      if (had) {
        S.lastEnded = call;
        announce(`Call with ${label(call)} ended`);
      }
      if (!S.calls.size) {
        S.keypadOpen = false; S.transferOpen = false; S.dtmfSent = ''; S.addingCall = false;
      }
      if (S.view === 'history') loadHistory();
    }
  }

  // ------------------------------------------------------------------ derived state

  function calls() { return [...S.calls.values()]; }

  function foreground() {
    const cs = calls();
    return cs.find((c) => c.state === 'ESTABLISHED') || cs.find((c) => DIALING.has(c.state))
      || cs.find((c) => c.state === 'HELD') || null;
  }

  function ringing() { return calls().filter((c) => c.state === 'INCOMING'); }

  function primaryAccount() {
    return S.accounts.find((a) => !a.demo) || S.accounts[0] || null;
  }

  // ------------------------------------------------------------------ rendering

  function render() {
    const demo = S.accounts.find((a) => a.demo);
    const demoButton = document.querySelector('[data-guide="demo"]');
    if (demoButton) demoButton.hidden = !demo;
    renderTop();
    renderPhone();
    renderBadge();
    document.title = 'Softphone';
  }

  function renderTop() {
    const dot = $('reg-dot'), name = $('account-name'), text = $('reg-text');
    const acc = primaryAccount();
    let cls = 'dot-off', line = '';
    if (!S.engine.connected) {
      name.textContent = 'Softphone';
      line = S.engine.everConnected ? 'Phone engine stopped' : 'Starting the phone engine…';
      cls = S.engine.everConnected ? 'dot-bad' : 'dot-off';
    } else if (!acc) {
      name.textContent = 'No account';
      line = 'Add an account in Settings';
    } else {
      name.textContent = acc.name;
      const st = acc.registration;
      if (st === 'REGISTERED') { cls = 'dot-ok'; line = 'Registered · ' + acc.domain; }
      else if (st === 'NONE') { cls = 'dot-ok'; line = acc.demo ? 'Ready · answers any number' : 'Ready · direct calls'; }
      else if (st === 'REGISTERING') { cls = 'dot-warn'; line = 'Registering…'; }
      else if (st === 'FAILED') {
        cls = 'dot-bad';
        line = 'Not registered' + (acc.sip_code ? ` · ${acc.sip_code} ${acc.reason || ''}` : (acc.reason ? ' · ' + acc.reason : ''));
      } else { cls = 'dot-bad'; line = 'Not registered'; }
      const others = S.accounts.length - 1;
      if (others > 0) line += ` · +${others} more`;
    }
    if (S.engine.connected && !S.available) cls = 'dot-bad';
    dot.className = 'dot ' + cls;
    text.textContent = line;
    $('account-chip').setAttribute('aria-label', `Account ${name.textContent}: ${line}. Open account settings`);
    const dnd = $('dnd-toggle');
    dnd.checked = S.engine.connected && !S.available;
    dnd.disabled = !S.engine.connected;

    const banner = $('banner'), btext = $('banner-text'), bact = $('banner-action');
    banner.className = 'banner';
    bact.hidden = true;
    if (!S.engine.connected) {
      banner.hidden = false;
      if (S.engine.everConnected || (S.info && !S.info.started_engine && Date.now() - bootAt > 8000)) {
        banner.classList.add('error');
        btext.textContent = S.engine.message || 'The phone engine is not running.';
        bact.textContent = 'Start it';
        bact.hidden = false;
        bact.onclick = async () => { await api().start_engine(); btext.textContent = 'Starting the phone engine…'; bact.hidden = true; };
      } else {
        btext.textContent = 'Starting the phone engine…';
      }
    } else if (!S.available) {
      banner.hidden = false;
      banner.classList.add('dnd-on');
      btext.textContent = 'Do not disturb is on: incoming calls are declined.';
      bact.textContent = 'Turn off';
      bact.hidden = false;
      bact.onclick = () => cmd('set_available', { available: true });
    } else {
      banner.hidden = true;
    }
  }

  function renderBadge() {
    const b = $('missed-badge');
    b.hidden = !S.missed;
    b.textContent = S.missed > 9 ? '9+' : String(S.missed);
    $('tab-history').setAttribute('aria-label', S.missed ? `History, ${S.missed} missed` : 'History');
  }

  function renderPhone() {
    const fg = foreground();
    const rings = ringing();
    const showIncoming = !fg && rings.length > 0;
    const showCall = !!fg && !S.addingCall;
    const mode = showIncoming ? 'incoming' : showCall ? 'call' : 'dialer';
    const changed = mode !== S.phoneMode;
    S.phoneMode = mode;
    $('incoming').hidden = !showIncoming;
    $('call-panel').hidden = !showCall;
    $('dialer').hidden = showIncoming || showCall;
    if (changed && S.view === 'phone' && $('guide').hidden) {
      // keyboard users land where the next action is; nothing destructive gets the focus
      const target = { incoming: 'incoming-answer', call: 'call-panel', dialer: 'number' }[mode];
      setTimeout(() => { const el = $(target); if (el && !inTextField(document.activeElement)) el.focus(); }, 0);
    }
    if (showIncoming) renderIncoming(rings[0]);
    if (showCall) renderCall(fg, rings);
    if (!showIncoming && !showCall) renderDialer();
  }

  function renderIncoming(c) {
    setAvatar($('incoming-avatar'), c);
    $('incoming-name').textContent = label(c);
    $('incoming-number').textContent = c.remote_name ? c.remote : '';
    $('incoming-account').textContent = c.account ? `to ${c.account}` : '';
    $('incoming-answer').setAttribute('aria-label', `Answer call from ${label(c)}`);
    $('incoming-decline').setAttribute('aria-label', `Decline call from ${label(c)}`);
    $('incoming-answer').dataset.callId = c.call_id;
    $('incoming-decline').dataset.callId = c.call_id;
  }

  function stateLine(c) {
    switch (c.state) {
      case 'OUTGOING': return 'Calling…';
      case 'RINGING': return 'Ringing…';
      case 'EARLY': return 'Ringing…';
      case 'INCOMING': return 'Incoming call';
      case 'HELD': return 'On hold · ' + fmtDuration(since(c.answered_at));
      case 'ESTABLISHED': return (c.remote_hold ? 'Held by the other side · ' : '') + fmtDuration(since(c.answered_at));
      default: return '';
    }
  }

  function renderCall(c, rings) {
    const panel = $('call-panel');
    panel.classList.toggle('busy', calls().length > 1);
    panel.classList.toggle('keypad-open', S.keypadOpen);
    panel.dataset.callId = c.call_id;
    panel.dataset.state = c.state;
    setAvatar($('call-avatar'), c);
    $('call-name').textContent = label(c);
    $('call-number').textContent = c.remote_name ? c.remote : (c.account ? `via ${c.account}` : '');
    const st = $('call-state');
    st.textContent = stateLine(c);
    st.className = 'call-state' + (c.state === 'ESTABLISHED' ? '' : ' muted-state');

    const talking = c.state === 'ESTABLISHED' || c.state === 'HELD';
    const mute = $('btn-mute');
    mute.setAttribute('aria-pressed', String(!!c.muted));
    mute.querySelector('span').textContent = c.muted ? 'Unmute' : 'Mute';
    mute.setAttribute('aria-label', c.muted ? 'Unmute microphone' : 'Mute microphone');
    mute.disabled = !talking && !DIALING.has(c.state);
    const hold = $('btn-hold');
    const held = c.state === 'HELD';
    hold.setAttribute('aria-pressed', String(held));
    hold.querySelector('span').textContent = held ? 'Resume' : 'Hold';
    hold.setAttribute('aria-label', held ? 'Resume call' : 'Hold call');
    hold.querySelector('use').setAttribute('href', held ? '#i-play' : '#i-pause');
    hold.disabled = !talking;
    $('btn-keypad').setAttribute('aria-pressed', String(S.keypadOpen));
    $('btn-keypad').disabled = !(c.state === 'ESTABLISHED' || c.state === 'EARLY');
    $('btn-transfer').disabled = !talking;
    const others = calls().filter((x) => x.call_id !== c.call_id && x.state !== 'INCOMING');
    $('btn-swap').hidden = !others.some((x) => x.state === 'HELD');
    $('btn-add').hidden = !$('btn-swap').hidden;
    $('btn-add').disabled = calls().length >= 4;

    $('call-keypad').hidden = !S.keypadOpen;
    $('dtmf-sent').textContent = S.dtmfSent;
    $('transfer-sheet').hidden = !S.transferOpen;
    $('transfer-who').textContent = label(c);
    $('call-controls').hidden = S.transferOpen;

    // quality
    const q = S.quality[c.call_id] || c.quality || null;
    const qel = $('quality');
    if (talking && (q || c.codec)) {
      qel.hidden = false;
      const level = qualityLevel(q);
      qel.dataset.level = String(level || 0);
      const word = ['', 'Poor', 'Fair', 'Good', 'Excellent'][level] || '';
      const parts = [];
      if (word) parts.push(word);
      if (c.codec) parts.push(codecLabel(c.codec));
      if (q && typeof q.loss_pct === 'number' && q.loss_pct >= 1) parts.push(`${q.loss_pct.toFixed(0)}% loss`);
      $('quality-text').textContent = parts.join(' · ');
      qel.querySelector('.bars').hidden = !level;
      qel.setAttribute('aria-label', 'Audio quality: ' + (parts.join(', ') || 'unknown'));
    } else {
      qel.hidden = true;
    }

    // call waiting
    const waiting = rings[0];
    $('waiting').hidden = !waiting;
    if (waiting) {
      $('waiting-name').textContent = label(waiting) + (waiting.remote_name ? ` (${waiting.remote})` : '');
      $('waiting-answer').dataset.callId = waiting.call_id;
      $('waiting-decline').dataset.callId = waiting.call_id;
    }

    // other (held / consultation) calls
    const box = $('other-calls');
    box.replaceChildren(...others.map((o) => h('div', { class: 'other-call', 'data-call-id': o.call_id },
      h('div', { class: 'avatar small', 'aria-hidden': 'true' }, initials(o) || icon('user')),
      h('div', { class: 'who' }, h('b', { text: label(o) }), h('span', { text: stateLine(o) })),
      o.state === 'HELD' ? h('button', {
        type: 'button', class: 'button small', 'aria-label': `Swap to ${label(o)}`,
        onclick: () => act(cmd('resume', { call_id: o.call_id })),
      }, 'Swap') : null,
      h('button', {
        type: 'button', class: 'icon-button small end-other', 'aria-label': `Hang up ${label(o)}`, title: 'Hang up this call',
        onclick: () => act(cmd('hangup', { call_id: o.call_id })),
      }, icon('hangup')))));

    // attended transfer
    const consult = S.consult;
    const bar = $('attended-bar');
    if (consult && consult.toId) {
      const from = S.calls.get(consult.fromId), to = S.calls.get(consult.toId);
      bar.hidden = !(from && to);
      if (from && to) {
        $('attended-text').textContent = `Consulting ${label(to)} · transfer ${label(from)}`;
        $('attended-complete').disabled = !(to.state === 'ESTABLISHED' || to.state === 'HELD');
      }
    } else {
      bar.hidden = true;
    }
    $('btn-hangup').setAttribute('aria-label', `Hang up call with ${label(c)}`);
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

  function renderDialer() {
    const inCall = S.calls.size > 0;
    const sel = $('dial-account');
    const callable = S.accounts;
    sel.hidden = callable.length < 2;
    if (callable.length >= 2) {
      const cur = sel.value;
      const names = callable.map((a) => a.name).join('\u0000');
      if (sel.dataset.names !== names) {
        sel.replaceChildren(...callable.map((a) => h('option', { value: a.name, text: a.name })));
        sel.dataset.names = names;
        if (cur && callable.some((a) => a.name === cur)) sel.value = cur;
        else sel.value = (primaryAccount() || callable[0]).name;
      }
    }
    $('call-button').disabled = !S.engine.connected;
    const last = S.lastEnded;
    const lc = $('last-call');
    if (inCall) {
      lc.hidden = false;
      $('last-call-text').textContent = `${calls().length} call${calls().length > 1 ? 's' : ''} in progress`;
      $('last-call-note').textContent = 'Back to call';
      $('last-call-note').onclick = () => { S.addingCall = false; render(); };
      $('last-call-close').hidden = true;
      $('last-call-editor').hidden = true;
    } else if (last) {
      lc.hidden = false;
      $('last-call-close').hidden = false;
      const status = STATUS_LABEL[last.end_status] || 'Ended';
      const dur = last.answered_at ? ' · ' + fmtDuration(last.duration_s || 0) : '';
      $('last-call-text').textContent = `${label(last)} · ${status}${dur}`;
      $('last-call-note').textContent = last.notes ? 'Edit note' : 'Add note';
      $('last-call-note').onclick = () => {
        $('last-call-editor').hidden = !$('last-call-editor').hidden;
        $('last-call-notes').value = last.notes || '';
        $('last-call-disposition').value = last.disposition || '';
        if (!$('last-call-editor').hidden) $('last-call-notes').focus();
      };
    } else {
      lc.hidden = true;
    }
  }

  // ------------------------------------------------------------------ phone actions

  async function act(promise, onError) {
    const r = await promise;
    if (!r.ok) {
      if (onError) onError(r.error); else snack(r.error.message, 'error');
    }
    return r;
  }

  function numberHint(text, cls) {
    const el = $('number-hint');
    el.textContent = text || '\u00a0';
    el.className = 'number-hint' + (cls ? ' ' + cls : '');
  }

  async function dial(number) {
    number = (number === undefined ? $('number').value : number).trim();
    if (!number) { numberHint('Type or paste a number first.', 'error'); $('number').focus(); return; }
    const args = { number };
    const sel = $('dial-account');
    if (!sel.hidden && sel.value) args.account = sel.value;
    numberHint('Calling…');
    const r = await cmd('dial', args);
    if (r.ok) {
      $('number').value = '';
      numberHint('');
      S.addingCall = false;
      S.lastEnded = null;
      if (r.result && r.result.call_id) onCall(r.result, null);
      showView('phone');
      render();
    } else {
      numberHint(r.error.message, 'error');
    }
    return r;
  }

  let normalizeTimer = null;
  function scheduleNormalizePreview() {
    clearTimeout(normalizeTimer);
    const value = $('number').value.trim();
    if (!value) { numberHint(''); return; }
    normalizeTimer = setTimeout(async () => {
      if (unsupported('normalize') || $('number').value.trim() !== value) return;
      const digits = value.replace(/\D/g, '');
      if (digits.length < 7 && !/^sips?:/i.test(value)) { numberHint(''); return; }
      const r = await cmd('normalize', numArgs(value));
      if ($('number').value.trim() !== value) return;
      if (r.ok) numberHint(r.result.display !== value ? 'Calls ' + r.result.display : '', 'ok');
      else if (r.error.code === 'invalid_number') numberHint(r.error.message, 'error');
      else numberHint('');
    }, 350);
  }

  function numArgs(number) {
    const args = { number };
    const sel = $('dial-account');
    if (!sel.hidden && sel.value) args.account = sel.value;
    return args;
  }

  async function onPaste(ev) {
    const text = (ev.clipboardData || window.clipboardData).getData('text') || '';
    if (!text.trim()) return;
    ev.preventDefault();
    const raw = text.trim().slice(0, 256);
    const r = unsupported('normalize') ? { ok: false, error: { code: 'unknown_command' } } : await cmd('normalize', numArgs(raw));
    const input = $('number');
    if (r.ok) {
      input.value = r.result.display;
      numberHint(raw !== r.result.display ? `Pasted “${raw.length > 28 ? raw.slice(0, 27) + '…' : raw}”` : '', 'ok');
    } else {
      input.value = raw.replace(/[\r\n\t]+/g, ' ');
      numberHint(r.error.code === 'invalid_number' ? r.error.message : '', r.error.code === 'invalid_number' ? 'error' : '');
    }
    input.focus();
  }

  function pressKey(digit) {
    const fg = foreground();
    if (fg && !S.addingCall && S.view === 'phone' && (fg.state === 'ESTABLISHED' || fg.state === 'EARLY')) {
      sendDtmf(digit, fg);
      return;
    }
    const input = $('number');
    input.value += digit;
    scheduleNormalizePreview();
  }

  async function sendDtmf(digit, fg) {
    S.dtmfSent = (S.dtmfSent + digit).slice(-20);
    $('dtmf-sent').textContent = S.dtmfSent;
    await act(cmd('dtmf', { digits: digit, call_id: fg.call_id }));
  }

  function hangupForeground() {
    const fg = foreground();
    if (fg) return act(cmd('hangup', { call_id: fg.call_id }));
    const r = ringing()[0];
    if (r) return act(cmd('decline', { call_id: r.call_id }));
    return null;
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

  // ------------------------------------------------------------------ views

  function showView(view) {
    S.view = view;
    for (const v of ['phone', 'history', 'settings']) {
      $('view-' + v).hidden = v !== view;
      const tab = $('tab-' + v);
      tab.setAttribute('aria-selected', String(v === view));
      tab.tabIndex = v === view ? 0 : -1;
    }
    if (view === 'history') {
      S.missed = 0;
      if (apiReady()) api().missed_seen();
      loadHistory();
    }
    if (view === 'settings') renderSettings();
    if (view === 'phone' && !foreground() && !ringing().length) setTimeout(() => $('number').focus(), 0);
    render();
  }

  // ------------------------------------------------------------------ history

  let historySeq = 0;
  async function loadHistory() {
    const seq = ++historySeq;
    const f = S.history.filter;
    const args = { limit: 200 };
    if (S.history.query) args.query = S.history.query;
    if (f === 'missed') args.status = 'MISSED';
    if (f === 'inbound' || f === 'outbound') args.direction = f;
    const r = await cmd('history', args);
    if (seq !== historySeq) return;
    if (!r.ok) {
      S.history.rows = [];
      renderHistory(r.error.message);
      return;
    }
    S.history.rows = r.result.calls || [];
    renderHistory();
  }

  function historyStatus(row) {
    if (!row.end_status) return ACTIVE.has(row.state) ? 'In progress' : '';
    return STATUS_LABEL[row.end_status] || row.end_status;
  }

  function renderHistory(error) {
    const list = $('history-list');
    const rows = S.history.rows;
    const empty = $('history-empty');
    empty.hidden = rows.length > 0;
    empty.querySelector('p').textContent = error || (S.history.query || S.history.filter !== 'all'
      ? 'No calls match.' : 'No calls yet. Calls you make and receive appear here.');
    list.replaceChildren(...rows.map((row) => {
      const missed = row.end_status === 'MISSED';
      const name = (row.remote_name || '').trim() || row.remote;
      const bits = [];
      bits.push(historyStatus(row));
      if (row.answered_at && row.duration_s) bits.push(fmtDuration(row.duration_s));
      if (row.remote_name) bits.push(row.remote);
      const open = S.history.open === row.call_id;
      const main = h('div', {
        class: 'h-main', role: 'button', tabindex: '0', 'aria-expanded': String(open),
        'aria-label': `${row.direction === 'inbound' ? 'Incoming' : 'Outgoing'} call ${missed ? 'missed ' : ''}${name}, ${bits.join(', ')}, ${fmtWhen(row.started_at)}. Show details`,
        onclick: () => { S.history.open = open ? null : row.call_id; renderHistory(); },
        onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); S.history.open = open ? null : row.call_id; renderHistory(); } },
      },
      h('span', { class: 'h-dir' + (missed ? ' missed' : ''), 'aria-hidden': 'true' }, icon(row.direction === 'inbound' ? 'in' : 'out')),
      h('span', { class: 'h-text' },
        h('div', { class: 'h-name' + (missed ? ' missed' : ''), text: name }),
        h('div', { class: 'h-sub', text: bits.filter(Boolean).join(' · ') })),
      h('span', { class: 'h-when', text: fmtWhen(row.started_at) }),
      h('button', {
        type: 'button', class: 'icon-button h-call', 'aria-label': `Call back ${name}`, title: `Call ${row.remote}`,
        onclick: (e) => { e.stopPropagation(); callBack(row); },
      }, icon('phone')));
      const li = h('li', { class: 'h-row', 'data-call-id': row.call_id }, main);
      if (open) li.append(historyDetail(row));
      return li;
    }));
  }

  function historyDetail(row) {
    const when = row.started_at ? new Date(row.started_at).toLocaleString() : '';
    const sip = row.sip_code ? `${row.sip_code} ${row.reason || ''}` : (row.reason || '');
    const notes = h('textarea', { rows: '2', placeholder: 'Notes', 'aria-label': 'Call notes' });
    notes.value = row.notes || '';
    const disp = h('select', { 'aria-label': 'Outcome' },
      ['', 'Connected', 'Left voicemail', 'No answer', 'Wrong number', 'Busy', 'Call back later'].map((o) =>
        h('option', { value: o, text: o || 'Outcome…' })));
    if (row.disposition && ![...disp.options].some((o) => o.value === row.disposition)) {
      disp.append(h('option', { value: row.disposition, text: row.disposition }));
    }
    disp.value = row.disposition || '';
    const save = h('button', {
      type: 'button', class: 'button primary small',
      onclick: async () => {
        const r = await act(cmd('set_outcome', { call_id: row.call_id, notes: notes.value, disposition: disp.value }));
        if (r.ok) { snack('Saved.'); loadHistory(); }
      },
    }, 'Save');
    return h('div', { class: 'h-detail' },
      h('dl', {},
        h('dt', { text: 'When' }), h('dd', { text: when }),
        h('dt', { text: 'Number' }), h('dd', { text: row.remote }),
        h('dt', { text: 'Account' }), h('dd', { text: row.account }),
        h('dt', { text: 'Status' }), h('dd', { text: historyStatus(row) + (row.answered_at ? ' · ' + fmtDuration(row.duration_s) : '') }),
        sip ? h('dt', { text: 'Reason' }) : null, sip ? h('dd', { text: sip }) : null),
      h('div', { class: 'note-editor' }, notes, h('div', { class: 'note-row' }, disp, save)));
  }

  async function callBack(row) {
    showView('phone');
    const args = { number: row.remote };
    if (row.account && S.accounts.some((a) => a.name === row.account)) args.account = row.account;
    const r = await cmd('dial', args);
    if (!r.ok) numberHint(r.error.message, 'error');
    else { S.lastEnded = null; onCall(r.result, null); render(); }
  }

  // ------------------------------------------------------------------ settings

  const COUNTRIES = ['US', 'CA', 'GB', 'IE', 'DE', 'FR', 'ES', 'IT', 'NL', 'BE', 'CH', 'AT', 'SE', 'NO', 'DK', 'FI',
    'PL', 'PT', 'AU', 'NZ', 'IN', 'SG', 'JP', 'BR', 'MX', 'ZA'];

  function field(labelText, input, hint) {
    const id = input.id || ('f-' + Math.random().toString(36).slice(2, 9));
    input.id = id;
    return h('div', { class: 'field' }, h('label', { class: 'field-label', for: id, text: labelText }), input,
      hint ? h('div', { class: 'field-hint', text: hint }) : null);
  }

  async function renderSettings(focus) {
    const body = $('settings-body');
    const [accounts, settings, devices] = await Promise.all([
      cmd('account_list'), cmd('settings_get'), cmd('audio_devices')]);
    const conf = settings.ok ? (settings.result.settings || settings.result) : null;
    body.replaceChildren(
      accountsCard(accounts),
      audioCard(conf, devices),
      widgetCard(conf),
      appearanceCard(),
      aboutCard());
    if (focus === 'accounts') body.querySelector('#card-accounts').scrollIntoView();
  }

  function accountsCard(res) {
    const card = h('section', { class: 'card', id: 'card-accounts', 'aria-labelledby': 'h-accounts' });
    const add = h('button', { type: 'button', class: 'button small primary', onclick: () => openAccountForm(card, null) }, 'Add account');
    card.append(h('div', { class: 'card-head' }, h('h2', { id: 'h-accounts', text: 'Accounts' }), add),
      h('p', { class: 'card-sub', text: 'Passwords are kept in the system keyring, never in the config file.' }));
    if (!res.ok) {
      if (!(res.error.code === 'unknown_command' || unsupported('account_list'))) {
        card.append(h('p', { class: 'form-error', text: res.error.message }));
        return card;
      }
      // this engine cannot edit accounts yet: show what it runs, and how to change it
      add.hidden = true;
      for (const acc of S.accounts) {
        const reg = acc.registration;
        card.append(h('div', { class: 'acc-row', 'data-account': acc.name },
          h('span', { class: 'dot ' + (reg === 'REGISTERED' || reg === 'NONE' ? 'dot-ok' : reg === 'FAILED' ? 'dot-bad' : 'dot-warn'), 'aria-hidden': 'true' }),
          h('div', { class: 'who' }, h('b', { text: acc.name }),
            h('span', { text: acc.demo ? 'Demo line: answers any number' : `${acc.domain} · ${reg.toLowerCase()}` }))));
      }
      card.append(h('p', { class: 'card-sub' }, 'Add or change accounts with ',
        h('code', { text: 'softphone account add' }), ' and ', h('code', { text: 'softphone account set-password NAME' }),
        ', then restart Softphone.'));
      return card;
    }
    const list = res.result.accounts || [];
    if (!list.length) {
      card.append(h('p', { class: 'card-sub', text: 'No account yet: calls go through the Demo line, which answers any number.' }));
    }
    for (const acc of list) {
      const live = S.accounts.find((a) => a.name === acc.name);
      const reg = live ? live.registration : (acc.enabled === false ? 'disabled' : '');
      card.append(h('div', { class: 'acc-row', 'data-account': acc.name },
        h('span', { class: 'dot ' + (reg === 'REGISTERED' || reg === 'NONE' ? 'dot-ok' : reg === 'FAILED' ? 'dot-bad' : reg === 'REGISTERING' ? 'dot-warn' : 'dot-off'), 'aria-hidden': 'true' }),
        h('div', { class: 'who' }, h('b', { text: acc.name }),
          h('span', { text: `${acc.sip_uri}${acc.has_password === false && acc.auth_username ? ' · no password set' : ''}` })),
        h('button', { type: 'button', class: 'button small', 'aria-label': `Edit ${acc.name}`, onclick: () => openAccountForm(card, acc) }, 'Edit')));
    }
    return card;
  }

  function openAccountForm(card, acc) {
    const old = card.querySelector('form');
    if (old) old.remove();
    const v = acc || { transport: 'udp', default_country: 'US', enabled: true };
    const inp = (name, attrs) => {
      const el = h('input', Object.assign({ name, type: 'text', autocomplete: 'off', spellcheck: 'false' }, attrs || {}));
      el.value = v[name] === undefined || v[name] === null ? '' : v[name];
      return el;
    };
    const transport = h('select', { name: 'transport' }, ['udp', 'tcp', 'tls'].map((t) => h('option', { value: t, text: t.toUpperCase() })));
    transport.value = v.transport || 'udp';
    const country = h('select', { name: 'default_country' }, COUNTRIES.map((c) => h('option', { value: c, text: c })));
    if (v.default_country && !COUNTRIES.includes(v.default_country)) country.append(h('option', { value: v.default_country, text: v.default_country }));
    country.value = v.default_country || 'US';
    const enabled = h('input', { type: 'checkbox', name: 'enabled', id: 'acc-enabled' });
    enabled.checked = v.enabled !== false;
    const password = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', placeholder: acc && acc.has_password ? '•••••• (unchanged)' : '' });
    const err = h('div', { class: 'form-error', role: 'alert' });
    const form = h('form', { class: 'account-form', 'aria-label': acc ? `Edit account ${acc.name}` : 'New account' },
      field('Name', inp('name', { placeholder: 'Work line', required: true })),
      field('SIP address', inp('sip_uri', { placeholder: 'sip:alice@pbx.example.com', required: true })),
      field('Password', password, 'Stored in the system keyring.'),
      h('div', { class: 'field-row' },
        field('Registrar', inp('registrar', { placeholder: 'sip:pbx.example.com' })),
        field('Outbound proxy', inp('proxy', { placeholder: 'optional' }))),
      h('div', { class: 'field-row' },
        field('Auth username', inp('auth_username', { placeholder: 'if different' })),
        field('Transport', transport)),
      h('div', { class: 'field-row' },
        field('Default country', country, 'For numbers without +country code.'),
        h('label', { class: 'check', for: 'acc-enabled' }, enabled, 'Enabled')),
      err,
      h('div', { class: 'form-actions' },
        acc ? h('button', {
          type: 'button', class: 'button danger small', onclick: async () => {
            if (!window.confirm(`Remove the account “${acc.name}” and its stored password?`)) return;
            const r = await cmd('account_remove', { name: acc.name });
            if (r.ok) { snack('Account removed.'); renderSettings('accounts'); } else err.textContent = r.error.message;
          },
        }, 'Remove') : null,
        h('button', { type: 'button', class: 'button ghost', onclick: () => form.remove() }, 'Cancel'),
        h('button', { type: 'submit', class: 'button primary' }, 'Save')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      const data = {};
      for (const name of ['name', 'sip_uri', 'registrar', 'proxy', 'auth_username']) {
        const val = form.elements[name].value.trim();
        if (val || name === 'name' || name === 'sip_uri') data[name] = val;
        else data[name] = null;
      }
      data.transport = transport.value;
      data.default_country = country.value;
      data.enabled = enabled.checked;
      const args = { account: data };
      if (acc) args.original_name = acc.name;
      const r = await cmd('account_save', args);
      if (!r.ok) { err.textContent = r.error.message; return; }
      if (password.value) {
        const p = await cmd('set_password', { account: data.name, password: password.value });
        password.value = '';
        if (!p.ok) { err.textContent = p.error.message; return; }
      }
      snack(`Account “${data.name}” saved.`);
      renderSettings('accounts');
    });
    card.append(form);
    form.elements.name.focus();
  }

  function audioCard(conf, devices) {
    const card = h('section', { class: 'card', 'aria-labelledby': 'h-audio' },
      h('h2', { id: 'h-audio', text: 'Audio' }),
      h('p', { class: 'card-sub', text: 'Microphone, speaker and the device that rings.' }));
    if (!devices.ok) {
      card.append(unsupported('audio_devices')
        ? h('p', { class: 'card-sub' }, 'Devices are set in the config file ([audio] input_device, output_device, ringer_device); ',
          h('code', { text: 'softphone doctor' }), ' lists them.')
        : h('p', { class: 'form-error', text: devices.error.message }));
      return card;
    }
    const audio = (conf && conf.audio) || {};
    const opts = (list, cur) => {
      const sel = h('select', {}, h('option', { value: '', text: 'System default' }),
        (list || []).map((d) => h('option', { value: d.id !== undefined ? String(d.id) : d.name, text: d.name })));
      sel.value = cur || '';
      return sel;
    };
    const input = opts(devices.result.inputs, audio.input_device);
    const output = opts(devices.result.outputs, audio.output_device);
    const ringer = opts(devices.result.outputs, audio.ringer_device);
    const meter = h('div', { class: 'meter', role: 'meter', 'aria-label': 'Microphone level', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, h('i'));
    const ec = h('input', { type: 'checkbox', id: 'ec' }); ec.checked = audio.echo_cancellation !== false;
    const ns = h('input', { type: 'checkbox', id: 'ns' }); ns.checked = audio.noise_suppression !== false;
    const err = h('div', { class: 'form-error', role: 'alert' });
    const test = async (kind, device) => {
      const r = await cmd('audio_test', { kind, device: device || null });
      if (!r.ok) err.textContent = unsupported('audio_test') ? 'This engine cannot test audio yet.' : r.error.message;
      return r;
    };
    const micTest = async (btn) => {
      btn.disabled = true;
      for (let i = 0; i < 12; i += 1) {
        const r = await test('input', input.value);
        if (!r.ok) break;
        const level = Math.max(0, Math.min(1, Number(r.result.peak || r.result.level || 0)));
        meter.firstChild.style.width = Math.round(level * 100) + '%';
        meter.setAttribute('aria-valuenow', String(Math.round(level * 100)));
      }
      meter.firstChild.style.width = '0%';
      btn.disabled = false;
    };
    card.append(
      field('Microphone', input),
      meter,
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', class: 'button small', onclick: (e) => micTest(e.currentTarget) }, 'Test microphone'),
        h('button', { type: 'button', class: 'button small', onclick: () => test('output', output.value) }, 'Play test sound')),
      field('Speaker', output),
      field('Ringer', ringer),
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', class: 'button small', onclick: () => test('ringer', ringer.value) }, 'Test ringer')),
      h('label', { class: 'check', for: 'ec' }, ec, 'Echo cancellation'),
      h('label', { class: 'check', for: 'ns' }, ns, 'Noise suppression'),
      err,
      h('div', { class: 'form-actions' }, h('button', {
        type: 'button', class: 'button primary', onclick: async () => {
          err.textContent = '';
          const r = await cmd('settings_save', { settings: { audio: {
            input_device: input.value || null, output_device: output.value || null, ringer_device: ringer.value || null,
            echo_cancellation: ec.checked, noise_suppression: ns.checked,
          } } });
          if (r.ok) snack('Audio settings saved.'); else err.textContent = r.error.message;
        },
      }, 'Save audio')));
    if (conf && conf.headset) {
      const hs = h('input', { type: 'checkbox', id: 'hs' }); hs.checked = conf.headset.enabled !== false;
      card.append(h('label', { class: 'check', for: 'hs' }, hs, 'Use headset buttons (answer, hang up, mute)'));
      hs.addEventListener('change', async () => {
        const r = await cmd('settings_save', { settings: { headset: { enabled: hs.checked } } });
        if (!r.ok) err.textContent = r.error.message;
      });
    }
    return card;
  }

  function widgetCard(conf) {
    const card = h('section', { class: 'card', 'aria-labelledby': 'h-widget' },
      h('h2', { id: 'h-widget', text: 'HubSpot' }),
      h('p', { class: 'card-sub', text: 'The dialer HubSpot shows is served from this computer.' }));
    const w = conf && conf.widget;
    if (w) {
      const port = h('input', { type: 'number', min: '1', max: '65535', value: String(w.port) });
      const origins = h('textarea', { rows: '3', spellcheck: 'false' });
      origins.value = (w.allowed_origins || []).join('\n');
      const err = h('div', { class: 'form-error', role: 'alert' });
      card.append(
        field('Port', port, `HubSpot loads https://localhost:${w.port}/`),
        field('Allowed HubSpot origins (one per line)', origins),
        err,
        h('div', { class: 'form-actions' }, h('button', {
          type: 'button', class: 'button primary', onclick: async () => {
            err.textContent = '';
            const list = origins.value.split(/\s+/).map((s) => s.trim()).filter(Boolean);
            const r = await cmd('settings_save', { settings: { widget: { port: Number(port.value), allowed_origins: list } } });
            if (r.ok) snack('Saved. Restart Softphone for a new port to take effect.'); else err.textContent = r.error.message;
          },
        }, 'Save')));
    } else if (unsupported('settings_get')) {
      card.append(h('p', { class: 'card-sub' }, 'Port and allowed origins live in the config file ([widget] port, allowed_origins).'));
    }
    card.append(h('ol', { class: 'steps-list' },
      h('li', {}, 'Trust the local certificate once: ', h('code', { text: 'softphone cert install' }), ', then restart the browser.'),
      h('li', {}, 'Try it without an app: in a HubSpot tab run ', h('code', { text: "localStorage.setItem('LocalSettings:Calling:installDemoWidget', 'local')" }), ' in the console and reload.'),
      h('li', {}, 'Or register the calling app: ', h('code', { text: 'softphone hubspot settings create --app-id …' }), '.'),
      h('li', {}, 'Chrome may ask to allow access to this device (local network): allow it for app.hubspot.com.')));
    return card;
  }

  function appearanceCard() {
    const seg = h('div', { class: 'segmented', role: 'radiogroup', 'aria-label': 'Theme' },
      ['system', 'light', 'dark'].map((t) => h('button', {
        type: 'button', role: 'radio', 'aria-checked': String((S.prefs.theme || 'system') === t),
        onclick: async () => {
          const r = await api().set_pref('theme', t);
          if (r.ok) S.prefs = r.result;
          applyTheme();
          renderSettings();
        },
      }, t[0].toUpperCase() + t.slice(1))));
    return h('section', { class: 'card', 'aria-labelledby': 'h-look' },
      h('h2', { id: 'h-look', text: 'Appearance' }),
      h('p', { class: 'card-sub', text: 'System follows your desktop’s light or dark setting.' }), seg);
  }

  function aboutCard() {
    const info = S.info || {};
    return h('section', { class: 'card', 'aria-labelledby': 'h-about' },
      h('h2', { id: 'h-about', text: 'About' }),
      h('p', { class: 'card-sub' }, `Softphone ${info.version || ''} · data in `, h('code', { text: info.data_dir || '' })),
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', class: 'button small', onclick: () => { $('guide').hidden = false; $('guide-done').focus(); } }, 'Show welcome guide'),
        h('button', { type: 'button', class: 'button small', onclick: () => api().quit() }, 'Quit Softphone')));
  }

  // ------------------------------------------------------------------ quality polling

  async function pollQuality() {
    // the engine's status carries each live call's audio figures (calls[].audio.quality: mos, loss_pct, …)
    const fg = foreground();
    if (!fg || fg.state !== 'ESTABLISHED' || document.hidden) return;
    const r = await cmd('status');
    if (!r.ok) return;
    const live = (r.result.calls || []).find((c) => c.call_id === fg.call_id);
    const q = live && live.audio && live.audio.quality;
    if (q) { S.quality[fg.call_id] = q; render(); }
  }

  // ------------------------------------------------------------------ wiring

  const bootAt = Date.now();

  function wire() {
    buildPad($('dialpad'), pressKey);
    buildPad($('dtmfpad'), (d) => { const fg = foreground(); if (fg) sendDtmf(d, fg); });
    const number = $('number');
    number.addEventListener('paste', onPaste);
    number.addEventListener('input', () => {
      const clean = number.value.replace(/[^0-9A-Za-z+*#@:;=._\-()/ ]/g, '');
      if (clean !== number.value) number.value = clean;
      scheduleNormalizePreview();
    });
    $('call-button').addEventListener('click', () => dial());
    $('backspace').addEventListener('click', () => { number.value = number.value.slice(0, -1); scheduleNormalizePreview(); number.focus(); });
    $('incoming-answer').addEventListener('click', (e) => act(cmd('answer', { call_id: e.currentTarget.dataset.callId })));
    $('incoming-decline').addEventListener('click', (e) => act(cmd('decline', { call_id: e.currentTarget.dataset.callId })));
    $('waiting-answer').addEventListener('click', (e) => act(cmd('answer', { call_id: e.currentTarget.dataset.callId })));
    $('waiting-decline').addEventListener('click', (e) => act(cmd('decline', { call_id: e.currentTarget.dataset.callId })));
    $('btn-hangup').addEventListener('click', () => hangupForeground());
    $('btn-mute').addEventListener('click', () => { const fg = foreground(); if (fg) act(cmd('mute', { call_id: fg.call_id, muted: !fg.muted })); });
    $('btn-hold').addEventListener('click', () => {
      const fg = foreground();
      if (fg) act(cmd(fg.state === 'HELD' ? 'resume' : 'hold', { call_id: fg.call_id }));
    });
    $('btn-keypad').addEventListener('click', () => { S.keypadOpen = !S.keypadOpen; render(); });
    $('keypad-close').addEventListener('click', () => { S.keypadOpen = false; render(); $('btn-keypad').focus(); });
    $('btn-add').addEventListener('click', () => { S.addingCall = true; render(); number.focus(); });
    $('btn-swap').addEventListener('click', () => act(cmd('swap')));
    $('btn-transfer').addEventListener('click', () => {
      S.transferOpen = true; S.keypadOpen = false; render();
      $('transfer-hint').textContent = ''; $('transfer-target').value = ''; $('transfer-target').focus();
    });
    $('transfer-cancel').addEventListener('click', () => { S.transferOpen = false; render(); });
    const transferErr = (e) => { $('transfer-hint').textContent = e.message; $('transfer-hint').className = 'field-hint error'; };
    $('transfer-blind').addEventListener('click', async () => {
      const fg = foreground(), target = $('transfer-target').value.trim();
      if (!fg || !target) return;
      const r = await act(cmd('transfer', { call_id: fg.call_id, target }), transferErr);
      if (r.ok) { S.transferOpen = false; snack(`Transferring to ${target}…`); render(); }
    });
    $('transfer-consult').addEventListener('click', async () => {
      const fg = foreground(), target = $('transfer-target').value.trim();
      if (!fg || !target) return;
      S.consult = { fromId: fg.call_id, toId: null };
      const r = await act(cmd('dial', { number: target, account: fg.account }), transferErr);
      if (r.ok) { S.consult.toId = r.result.call_id; S.transferOpen = false; onCall(r.result, null); render(); }
      else S.consult = null;
    });
    $('transfer-target').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); $('transfer-blind').click(); } });
    $('attended-complete').addEventListener('click', async () => {
      const c = S.consult;
      if (!c || !c.toId) return;
      const r = await act(cmd('transfer', { call_id: c.fromId, target: c.toId }));
      if (r.ok) snack('Transferring…');
    });
    $('last-call-close').addEventListener('click', () => { S.lastEnded = null; render(); });
    $('last-call-save').addEventListener('click', async () => {
      const last = S.lastEnded;
      if (!last) return;
      const notes = $('last-call-notes').value, disposition = $('last-call-disposition').value;
      const r = await act(cmd('set_outcome', { call_id: last.call_id, notes, disposition }));
      if (r.ok) { Object.assign(last, { notes, disposition }); $('last-call-editor').hidden = true; snack('Note saved.'); render(); }
    });
    $('dnd-toggle').addEventListener('change', (e) => act(cmd('set_available', { available: !e.currentTarget.checked })));
    $('account-chip').addEventListener('click', () => { showView('settings'); });
    for (const v of ['phone', 'history', 'settings']) $('tab-' + v).addEventListener('click', () => showView(v));
    document.querySelector('.tabs').addEventListener('keydown', (e) => {
      const order = ['phone', 'history', 'settings'];
      const i = order.indexOf(S.view);
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        const next = order[(i + (e.key === 'ArrowRight' ? 1 : 2)) % 3];
        showView(next);
        $('tab-' + next).focus();
      }
    });
    let searchTimer = null;
    $('history-search').addEventListener('input', (e) => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => { S.history.query = e.target.value.trim(); loadHistory(); }, 250);
    });
    for (const chip of document.querySelectorAll('.chip')) {
      chip.addEventListener('click', () => {
        S.history.filter = chip.dataset.filter;
        for (const c of document.querySelectorAll('.chip')) c.setAttribute('aria-checked', String(c === chip));
        loadHistory();
      });
    }
    $('guide-done').addEventListener('click', closeGuide);
    for (const b of document.querySelectorAll('[data-guide]')) {
      b.addEventListener('click', () => {
        closeGuide();
        if (b.dataset.guide === 'account') {
          showView('settings');
          setTimeout(() => { const card = $('card-accounts'); if (card) openAccountForm(card, null); }, 150);
        } else {
          showView('phone');
          const demo = S.accounts.find((a) => a.demo);
          if (demo && !$('dial-account').hidden) $('dial-account').value = demo.name;
          number.value = '+1 415 555 0100';
          numberHint('The demo line answers any number: press Enter to call.', 'ok');
          number.focus();
        }
      });
    }
    document.addEventListener('keydown', onKey);
    setInterval(() => { if (S.calls.size) renderPhone(); }, 1000);
    setInterval(pollQuality, 3000);
  }

  function closeGuide() {
    $('guide').hidden = true;
    if (apiReady()) api().set_pref('first_run_done', true).then((r) => { if (r && r.ok) S.prefs = r.result; });
  }

  function onKey(e) {
    if (!$('guide').hidden) {
      if (e.key === 'Escape') { e.preventDefault(); closeGuide(); }
      return;
    }
    const target = e.target;
    const typing = inTextField(target);
    if (e.ctrlKey && !e.altKey && ['1', '2', '3'].includes(e.key)) {
      e.preventDefault();
      showView(['phone', 'history', 'settings'][Number(e.key) - 1]);
      return;
    }
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    const fg = foreground();
    const rings = ringing();
    if (e.key === 'Escape') {
      if (S.transferOpen) { S.transferOpen = false; render(); e.preventDefault(); return; }
      if (fg || rings.length) { e.preventDefault(); hangupForeground(); }
      return;
    }
    if (S.view !== 'phone') return;
    if (e.key === 'Enter') {
      if (!fg && rings.length && !typing) { e.preventDefault(); act(cmd('answer', { call_id: rings[0].call_id })); return; }
      const dialerVisible = !$('dialer').hidden;
      if (dialerVisible && (target === $('number') || !typing) && !(target && target.tagName === 'BUTTON')) {
        e.preventDefault();
        dial();
      }
      return;
    }
    if (/^[0-9*#]$/.test(e.key) && !typing) {
      if (fg && !S.addingCall && (fg.state === 'ESTABLISHED' || fg.state === 'EARLY')) {
        e.preventDefault();
        sendDtmf(e.key, fg);
        flashKey(e.key);
      } else if (!$('dialer').hidden) {
        e.preventDefault();
        $('number').value += e.key;
        $('number').focus();
        scheduleNormalizePreview();
      }
      return;
    }
    if (e.key === 'Backspace' && !typing && !$('dialer').hidden) {
      e.preventDefault();
      $('number').value = $('number').value.slice(0, -1);
      scheduleNormalizePreview();
    }
  }

  function flashKey(d) {
    const key = document.querySelector(`#dtmfpad .key[data-digit="${CSS.escape(d)}"]`);
    if (!key) return;
    key.classList.add('pressed');
    setTimeout(() => key.classList.remove('pressed'), 120);
  }

  async function init() {
    if (S.info) return;
    S.info = { pending: true };
    try {
      if (!apiReady()) throw new Error('no bridge');
      const info = await api().hello();
      S.info = info;
      S.prefs = info.prefs || S.prefs;
      S.systemDark = !!info.dark;
    } catch (e) {
      S.info = {};
    }
    applyTheme();
    if (!S.prefs.first_run_done) { $('guide').hidden = false; $('guide-done').focus(); }
    // events pushed before this page finished loading were dropped: start from a fresh snapshot
    const st = await cmd('status');
    if (st.ok) onEvent({ type: 'status', status: st.result });
    render();
  }

  // public surface for the Python side (evaluate_js) and tests
  window.softphoneApp = {
    onEvent,
    setSystemDark(dark) { S.systemDark = !!dark; applyTheme(); },
    showView,
    debug() {
      return {
        view: S.view, engine: S.engine, available: S.available, loggedIn: S.loggedIn,
        calls: calls(), foreground: foreground(), lastEnded: S.lastEnded, missed: S.missed,
        accounts: S.accounts, history: S.history.rows.map((r) => ({ call_id: r.call_id, remote: r.remote, direction: r.direction, end_status: r.end_status })),
        panel: $('call-panel').hidden ? ($('incoming').hidden ? 'dialer' : 'incoming') : 'call',
        callState: $('call-state').textContent, hint: $('number-hint').textContent, number: $('number').value,
        guide: !$('guide').hidden, theme: document.documentElement.dataset.theme, missing: [...S.missing],
      };
    },
  };

  wire();
  applyTheme();
  render();
  if (window.matchMedia) window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', applyTheme);
  bridgeReady.then(init);
  setTimeout(() => { if (!S.engine.connected) renderTop(); }, 8500);
})();
