/* Facts about a call's JSON (softphone/core/events.py CallSnapshot.to_json) that every surface reads alike. */

export const ACTIVE_STATES = new Set(['OUTGOING', 'RINGING', 'EARLY', 'INCOMING', 'ESTABLISHED', 'HELD']);
export const DIALING_STATES = new Set(['OUTGOING', 'RINGING', 'EARLY']);

/** end_status → [label, tone]; HubSpot's words (callEndStatus) so the CRM and the window agree. */
export const END_STATUS = {
  COMPLETED: ['Completed', 'good'], BUSY: ['Busy', 'warn'], NO_ANSWER: ['No answer', 'warn'],
  CANCELED: ['Canceled', ''], FAILED: ['Failed', 'bad'], REJECTED: ['Declined', 'warn'], MISSED: ['Missed', 'bad'],
};

/** Who is on the other end, as the rep should read it: CRM name, SIP display name, number. */
export function callerLabel(call, fallback = 'Unknown') {
  for (const v of [call.caller_name, call.remote_name, call.remote_display, call.remote]) {
    const s = String(v || '').trim();
    if (s) return s;
  }
  return fallback;
}

/** True when the label is a name (not just the number). */
export const hasName = (call) => !!String(call.caller_name || call.remote_name || '').trim();
