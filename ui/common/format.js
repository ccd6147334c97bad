/* Times, durations and names as the rep reads them, the same on every surface. Pure: no DOM. */

const two = (n) => String(n).padStart(2, '0');

/** 75 → "1:15" ("01:15" with padMinutes), 3725 → "1:02:05". */
export function duration(seconds, { padMinutes = false } = {}) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  if (hh) return `${hh}:${two(mm)}:${two(ss)}`;
  return `${padMinutes ? two(mm) : mm}:${two(ss)}`;
}

/** Seconds from an ISO time (or epoch ms) until `now` (epoch ms). */
export function secondsSince(when, now = Date.now()) {
  if (!when) return 0;
  return (now - (typeof when === 'number' ? when : Date.parse(when))) / 1000;
}

/** "14:05" in the rep's locale. */
export function clockTime(when) {
  return new Date(when).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** A list's "when" column: the time today, "Yesterday", the weekday within a week, else "3 Mar". */
export function dayOrTime(iso, now = new Date()) {
  if (!iso) return '';
  const d = new Date(iso);
  const day = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = Math.round((day(now) - day(d)) / 86400000);
  if (diff === 0) return clockTime(d);
  if (diff === 1) return 'Yesterday';
  if (diff < 7) return d.toLocaleDateString([], { weekday: 'short' });
  return d.toLocaleDateString([], { day: 'numeric', month: 'short' });
}

/** "Ada Lovelace" → "AL", "Ada" → "A"; null when the name has no letters (a number is not a name). */
export function initials(name) {
  const words = String(name || '').replace(/[^\p{L}\s]/gu, ' ').trim().split(/\s+/).filter(Boolean);
  if (!words.length) return null;
  return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : '')).toUpperCase();
}
