// Replays engine events through the window's store (ui/app/store.js) and prints, after each event, the part of
// its state that softphone/desktop/state.py derives too, as one JSON list. Used by tests/desktop/test_store.py:
//   node store_driver.mjs STORE_MODULE_URL < events.json
import { readFileSync } from 'node:fs';

const store = await import(process.argv[2]);
const events = JSON.parse(readFileSync(0, 'utf8'));

function project(s) {
  const fg = store.foreground(s);
  return {
    connected: s.connected,
    available: s.available,
    logged_in: s.loggedIn,
    foreground_call_id: s.foregroundCallId,
    foreground: fg ? fg.call_id : null,
    calls: store.calls(s).map((c) => [c.call_id, c.state]),
    incoming: store.ringing(s).map((c) => c.call_id),
    accounts: s.accounts.map((a) => [a.name, a.registration ?? null, a.sip_code ?? null, a.reason ?? '']),
    missed: s.missed,
  };
}

let state = store.initialState();
const out = [];
for (const ev of events) {
  state = store.reduce(state, ev);
  out.push(project(state));
}
process.stdout.write(JSON.stringify(out));
