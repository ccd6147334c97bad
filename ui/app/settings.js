/* The Settings tab: accounts (passwords go to the keyring), audio devices with tests, the headset, the HubSpot
 * widget, the theme and About. Everything is read from and saved through the engine's settings commands. */
import * as api from './api.js';
import { applyTheme, page, snack, store } from './page.js';
import { byId as $, h } from './common/dom.js';

const COUNTRIES = ['US', 'CA', 'GB', 'IE', 'DE', 'FR', 'ES', 'IT', 'NL', 'BE', 'CH', 'AT', 'SE', 'NO', 'DK', 'FI',
  'PL', 'PT', 'AU', 'NZ', 'IN', 'SG', 'JP', 'BR', 'MX', 'ZA'];

/** Shows the first-run guide again (main.js gives it, the guide lives there). */
let showGuide = () => {};
export function init(openGuide) { showGuide = openGuide; }

function field(labelText, input, hint) {
  const id = input.id || ('f-' + Math.random().toString(36).slice(2, 9));
  input.id = id;
  return h('div', { class: 'field' }, h('label', { class: 'field-label', for: id, text: labelText }), input,
    hint ? h('div', { class: 'field-hint', text: hint }) : null);
}

export async function render(focus) {
  const body = $('settings-body');
  const [accounts, settings, devices] = await Promise.all([
    api.command('account_list'), api.command('settings_get'), api.command('audio_devices')]);
  const conf = settings.ok ? settings.result.settings : null;
  body.replaceChildren(accountsCard(accounts), audioCard(conf, devices), widgetCard(conf), appearanceCard(), aboutCard());
  if (focus === 'accounts') body.querySelector('#card-accounts').scrollIntoView();
}

const dotFor = (reg) => (reg === 'REGISTERED' || reg === 'NONE' ? 'dot-ok' : reg === 'FAILED' ? 'dot-bad'
  : reg === 'REGISTERING' ? 'dot-warn' : 'dot-off');

function accountsCard(res) {
  const card = h('section', { class: 'card', id: 'card-accounts', 'aria-labelledby': 'h-accounts' });
  const add = h('button', { type: 'button', class: 'button small primary', onclick: () => openAccountForm(card, null) }, 'Add account');
  card.append(h('div', { class: 'card-head' }, h('h2', { id: 'h-accounts', text: 'Accounts' }), add),
    h('p', { class: 'card-sub', text: 'Passwords are kept in the system keyring, never in the config file.' }));
  if (!res.ok) {
    card.append(h('p', { class: 'form-error', text: res.error.message }));
    return card;
  }
  const list = res.result.accounts || [];
  if (!list.length) {
    card.append(h('p', { class: 'card-sub', text: 'No account yet: calls go through the Demo line, which answers any number.' }));
  }
  for (const acc of list) {
    const live = store.state.accounts.find((a) => a.name === acc.name);
    const reg = live ? live.registration : (acc.enabled === false ? 'disabled' : '');
    card.append(h('div', { class: 'acc-row', 'data-account': acc.name },
      h('span', { class: 'dot ' + dotFor(reg), 'aria-hidden': 'true' }),
      h('div', { class: 'who' }, h('b', { text: acc.name }),
        h('span', { text: `${acc.sip_uri}${acc.has_password === false && acc.auth_username ? ' · no password set' : ''}` })),
      h('button', { type: 'button', class: 'button small', 'aria-label': `Edit ${acc.name}`, onclick: () => openAccountForm(card, acc) }, 'Edit')));
  }
  return card;
}

/** The account form in the accounts card (acc null: a new account). */
export function openAccountForm(card, acc) {
  const old = card.querySelector('form');
  if (old) old.remove();
  const v = acc || { transport: 'udp', default_country: 'US', enabled: true };
  const inp = (name, attrs) => {
    const el = h('input', { name, type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });
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
          const r = await api.command('account_remove', { name: acc.name });
          if (r.ok) { snack('Account removed.'); render('accounts'); } else err.textContent = r.error.message;
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
      data[name] = val || name === 'name' || name === 'sip_uri' ? val : null;
    }
    data.transport = transport.value;
    data.default_country = country.value;
    data.enabled = enabled.checked;
    const args = { account: data };
    if (acc) args.original_name = acc.name;
    const r = await api.command('account_save', args);
    if (!r.ok) { err.textContent = r.error.message; return; }
    if (password.value) {
      const p = await api.command('set_password', { account: data.name, password: password.value });
      password.value = '';
      if (!p.ok) { err.textContent = p.error.message; return; }
    }
    snack(`Account “${data.name}” saved.`);
    render('accounts');
  });
  card.append(form);
  form.elements.name.focus();
}

function audioCard(conf, devices) {
  const card = h('section', { class: 'card', 'aria-labelledby': 'h-audio' },
    h('h2', { id: 'h-audio', text: 'Audio' }),
    h('p', { class: 'card-sub', text: 'Microphone, speaker and the device that rings.' }));
  if (!devices.ok) {
    card.append(h('p', { class: 'form-error', text: devices.error.message }));
    return card;
  }
  const audio = (conf && conf.audio) || {};
  const choice = (list, cur) => {
    const sel = h('select', {}, h('option', { value: '', text: 'System default' }),
      (list || []).map((d) => h('option', { value: d.id !== undefined ? String(d.id) : d.name, text: d.name })));
    sel.value = cur || '';
    return sel;
  };
  const input = choice(devices.result.inputs, audio.input_device);
  const output = choice(devices.result.outputs, audio.output_device);
  const ringer = choice(devices.result.outputs, audio.ringer_device);
  const meter = h('div', { class: 'meter', role: 'meter', 'aria-label': 'Microphone level', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, h('i'));
  const ec = h('input', { type: 'checkbox', id: 'ec' }); ec.checked = audio.echo_cancellation !== false;
  const ns = h('input', { type: 'checkbox', id: 'ns' }); ns.checked = audio.noise_suppression !== false;
  const err = h('div', { class: 'form-error', role: 'alert' });
  const test = async (kind, device) => {
    const r = await api.command('audio_test', { kind, device: device || null });
    if (!r.ok) err.textContent = r.error.message;
    return r;
  };
  const micTest = async (btn) => {
    btn.disabled = true;
    for (let i = 0; i < 12; i += 1) {
      const r = await test('input', input.value);
      if (!r.ok) break;
      const level = Math.max(0, Math.min(1, Number(r.result.peak || 0)));
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
        const r = await api.command('settings_save', { settings: { audio: {
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
      const r = await api.command('settings_save', { settings: { headset: { enabled: hs.checked } } });
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
          const r = await api.command('settings_save', { settings: { widget: { port: Number(port.value), allowed_origins: list } } });
          if (r.ok) snack('Saved. Restart Softphone for a new port to take effect.'); else err.textContent = r.error.message;
        },
      }, 'Save')));
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
      type: 'button', role: 'radio', 'aria-checked': String((page.prefs.theme || 'system') === t),
      onclick: async () => {
        const r = await api.setPref('theme', t);
        if (r.ok) page.prefs = r.result;
        applyTheme();
        render();
      },
    }, t[0].toUpperCase() + t.slice(1))));
  return h('section', { class: 'card', 'aria-labelledby': 'h-look' },
    h('h2', { id: 'h-look', text: 'Appearance' }),
    h('p', { class: 'card-sub', text: 'System follows your desktop’s light or dark setting.' }), seg);
}

function aboutCard() {
  const info = page.info || {};
  return h('section', { class: 'card', 'aria-labelledby': 'h-about' },
    h('h2', { id: 'h-about', text: 'About' }),
    h('p', { class: 'card-sub' }, `Softphone ${info.version || ''} · data in `, h('code', { text: info.data_dir || '' })),
    h('div', { class: 'form-actions' },
      h('button', { type: 'button', class: 'button small', onclick: showGuide }, 'Show welcome guide'),
      h('button', { type: 'button', class: 'button small', onclick: () => api.quit() }, 'Quit Softphone')));
}
