/* The top bar (account and registration, do-not-disturb), the banner under it, and the missed-call badge. */
import * as api from './api.js';
import { act, page, showView, store } from './page.js';
import { primaryAccount } from './store.js';
import { byId as $ } from './common/dom.js';

/* What the rep just asked for, until the engine's state says it happened: a render from an unrelated event in
   between must not flip the switch back (the next click would then ask for the same thing again). */
let pendingDnd = null;

export function init() {
  $('dnd-toggle').addEventListener('change', (e) => {
    const want = e.currentTarget.checked;
    pendingDnd = { want, at: Date.now() };
    act(api.command('set_available', { available: !want }));
  });
  $('account-chip').addEventListener('click', () => showView('settings'));
}

export function render() {
  const s = store.state;
  const name = $('account-name');
  const acc = primaryAccount(s);
  let cls = 'dot-off', line = '';
  if (!s.connected) {
    name.textContent = 'Softphone';
    line = s.everConnected ? 'Phone engine stopped' : 'Starting the phone engine…';
    cls = s.everConnected ? 'dot-bad' : 'dot-off';
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
    const others = s.accounts.length - 1;
    if (others > 0) line += ` · +${others} more`;
  }
  if (s.connected && !s.available) cls = 'dot-bad';
  $('reg-dot').className = 'dot ' + cls;
  $('reg-text').textContent = line;
  $('account-chip').setAttribute('aria-label', `Account ${name.textContent}: ${line}. Open account settings`);
  const dnd = $('dnd-toggle');
  const engineDnd = s.connected && !s.available;
  if (pendingDnd && (pendingDnd.want === engineDnd || !s.connected || Date.now() - pendingDnd.at > 5000)) pendingDnd = null;
  dnd.checked = pendingDnd ? pendingDnd.want : engineDnd;
  dnd.disabled = !s.connected;
  renderBanner(s);
  renderBadge(s);
}

function renderBanner(s) {
  const banner = $('banner'), text = $('banner-text'), action = $('banner-action');
  banner.className = 'banner';
  action.hidden = true;
  if (!s.connected) {
    banner.hidden = false;
    if (s.everConnected || (page.info && !page.info.started_engine && Date.now() - page.bootAt > 8000)) {
      banner.classList.add('error');
      text.textContent = s.message || 'The phone engine is not running.';
      action.textContent = 'Start it';
      action.hidden = false;
      action.onclick = async () => { await api.startEngine(); text.textContent = 'Starting the phone engine…'; action.hidden = true; };
    } else {
      text.textContent = 'Starting the phone engine…';
    }
  } else if (!s.available) {
    banner.hidden = false;
    banner.classList.add('dnd-on');
    text.textContent = 'Do not disturb is on: incoming calls are declined.';
    action.textContent = 'Turn off';
    action.hidden = false;
    action.onclick = () => act(api.command('set_available', { available: true }));
  } else {
    banner.hidden = true;
  }
}

function renderBadge(s) {
  const b = $('missed-badge');
  b.hidden = !s.missed;
  b.textContent = s.missed > 9 ? '9+' : String(s.missed);
  $('tab-history').setAttribute('aria-label', s.missed ? `History, ${s.missed} missed` : 'History');
}
