/* The first-run guide (an overlay over the tabs): shown until the rep closes it once, again from Settings. */
import * as api from './api.js';
import { prefill } from './dialer.js';
import { page, showView, store } from './page.js';
import { openAccountForm } from './settings.js';
import { byId as $ } from './common/dom.js';

export function init() {
  $('guide-done').addEventListener('click', close);
  for (const b of document.querySelectorAll('[data-guide]')) {
    b.addEventListener('click', () => {
      close();
      if (b.dataset.guide === 'account') {
        showView('settings');
        setTimeout(() => { const card = $('card-accounts'); if (card) openAccountForm(card, null); }, 150);
      } else {
        showView('phone');
        const demo = store.state.accounts.find((a) => a.demo);
        prefill('+1 415 555 0100', 'The demo line answers any number: press Enter to call.', demo && demo.name);
      }
    });
  }
}

export const isOpen = () => !$('guide').hidden;

export function open() { $('guide').hidden = false; $('guide-done').focus(); }

export function close() {
  $('guide').hidden = true;
  api.setPref('first_run_done', true).then((r) => { if (r && r.ok) page.prefs = r.result; });
}

/** The demo button only where there is a demo line. */
export function render() {
  const demoButton = document.querySelector('[data-guide="demo"]');
  if (demoButton) demoButton.hidden = !store.state.accounts.some((a) => a.demo);
}
