/* DOM helpers shared by the window (ui/app), the calling widget (ui/widget) and the CRM sandbox (ui/sandbox).
 *
 * Text from the engine, HubSpot or the CRM reaches the page only as text nodes and attribute values: nothing
 * here parses HTML, so a caller named "<img onerror=…>" is shown, never run. Event handlers are attributes
 * whose name starts with "on" and whose value is a function.
 */

export const byId = (id) => document.getElementById(id);

/** h('button', {class: 'x', onclick: fn, text: 'Go'}, child, [more, children]) → an element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c.nodeType ? c : document.createTextNode(String(c)));
  }
  return el;
}

const timers = new WeakMap();

/** Show a transient message in `el` (a toast or snackbar) for `ms`; its look follows data-level. */
export function flash(el, message, level, ms) {
  el.textContent = message;
  el.dataset.level = level;
  el.hidden = false;
  clearTimeout(timers.get(el));
  timers.set(el, setTimeout(() => { el.hidden = true; }, ms));
}
