/* Notes travel to HubSpot as HTML (hs_call_body): the rep's text is escaped on the way in and read back as text. */

export function escapeHtml(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
    .replace(/'/g, '&#x27;');
}

/** The rep's plain-text notes as hs_call_body: each line escaped, lines joined with <br>. */
export function notesToHtml(notes) {
  return String(notes).split(/\r?\n/).map(escapeHtml).join('<br>');
}

/** hs_call_body back to text, parsed inert (DOMParser runs no script and loads nothing). */
export function htmlToText(html) {
  const d = new DOMParser().parseFromString('<body>' + String(html || '').replace(/<br\s*\/?>/gi, '\n') + '</body>', 'text/html');
  return d.body.textContent || '';
}
