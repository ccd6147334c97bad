/* The window's engine state: a reducer over the engine's events, the same events and the same derived state as
 * softphone/desktop/state.py (the tray and toast side), so the two never disagree about what is going on.
 * tests/desktop/test_store.py feeds one event sequence to both and compares them.
 *
 * Pure (no DOM, no bridge): `reduce(state, event)` returns a new state and never changes the old one. Facts the
 * engine derives (which call is in the foreground, whether an account can call, do-not-disturb) are taken
 * from its `status` snapshot and `phone` events as they are, never computed here.
 *
 * Events: {type: 'engine', connected, message}   the window's link to the engine (softphone/desktop/pump.py)
 *         {type: 'status', status}               a snapshot (first on every connection)
 *         {type: 'phone', foreground_call_id, logged_in, available}
 *         {type: 'call', call, previous_state}
 *         {type: 'registration', account, state, sip_code, reason}
 * and the window's own: {type: 'missed_seen'}, {type: 'quality', call_id, quality}.
 */
import { ACTIVE_STATES } from './common/calls.js';

export function initialState() {
  return {
    connected: false,
    everConnected: false,
    message: '',
    available: true,
    loggedIn: false,
    foregroundCallId: null,
    accounts: [],
    calls: new Map(),           // call_id -> call JSON, oldest first
    missed: 0,
    quality: {},                // call_id -> the last polled audio figures
  };
}

export function reduce(state, ev) {
  switch (ev && ev.type) {
    case 'engine':
      if (ev.connected) return { ...state, connected: true, everConnected: true, message: '' };
      return { ...state, connected: false, message: ev.message || '', calls: new Map(), foregroundCallId: null,
        quality: {} };
    case 'status': {
      const st = ev.status || {};
      const calls = (st.calls || []).filter((c) => c && c.call_id && ACTIVE_STATES.has(c.state));
      return {
        ...state,
        connected: true,
        everConnected: true,
        available: st.available !== false,
        loggedIn: !!st.logged_in,
        foregroundCallId: st.foreground_call_id || null,
        accounts: (st.accounts || []).filter((a) => a && typeof a === 'object'),
        calls: new Map(calls.map((c) => [c.call_id, c])),
      };
    }
    case 'phone':
      return { ...state, foregroundCallId: ev.foreground_call_id || null, loggedIn: !!ev.logged_in,
        available: ev.available !== false };
    case 'registration':
      return { ...state, accounts: state.accounts.map((a) => (a.name === ev.account
        ? { ...a, registration: ev.state, sip_code: ev.sip_code, reason: ev.reason || '' } : a)) };
    case 'call': return onCall(state, ev.call);
    case 'missed_seen': return state.missed ? { ...state, missed: 0 } : state;
    case 'quality':
      if (!state.calls.has(ev.call_id)) return state;
      return { ...state, quality: { ...state.quality, [ev.call_id]: ev.quality } };
    default: return state;
  }
}

function onCall(state, call) {
  if (!call || !call.call_id) return state;
  const calls = new Map(state.calls);
  if (ACTIVE_STATES.has(call.state)) {
    calls.set(call.call_id, call);
    return { ...state, calls };
  }
  calls.delete(call.call_id);
  const quality = { ...state.quality };
  delete quality[call.call_id];
  const missed = state.missed + (call.direction === 'inbound' && call.end_status === 'MISSED' ? 1 : 0);
  return { ...state, calls, quality, missed };
}

// ------------------------------------------------------------------ queries

/** The call a bare hang-up, mute or DTMF acts on: the engine's choice. */
export function foreground(state) {
  return (state.foregroundCallId && state.calls.get(state.foregroundCallId)) || null;
}

export function calls(state) { return [...state.calls.values()]; }

/** Incoming calls waiting for an answer, oldest first. */
export function ringing(state) { return calls(state).filter((c) => c.state === 'INCOMING'); }

/** The account the top bar names: the first real one, else the demo line. */
export function primaryAccount(state) {
  return state.accounts.find((a) => !a.demo) || state.accounts[0] || null;
}

/** A small store around the reducer: subscribers get (state, previous, event) after each event. */
export function createStore() {
  let state = initialState();
  const subscribers = [];
  return {
    get state() { return state; },
    dispatch(ev) {
      const previous = state;
      state = reduce(state, ev);
      for (const fn of subscribers) fn(state, previous, ev);
    },
    subscribe(fn) { subscribers.push(fn); },
  };
}
