/* Icons as DOM nodes (never markup strings): the outline phone the widget and the sandbox draw, and a
 * reference into a page's own <svg> sprite (the window keeps its symbols in ui/app/index.html). */

const SVG_NS = 'http://www.w3.org/2000/svg';

export const PHONE_PATH = 'M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a2 2 0 0 1-2 2A16 16 0 0 1 3 6a2 2 0 0 1 2-2';

/** <svg viewBox="0 0 24 24"><path d=…/></svg>; stroke and size come from the page's CSS. */
export function pathIcon(d) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}

export const phoneIcon = () => pathIcon(PHONE_PATH);

/** <svg aria-hidden="true"><use href="#i-NAME"/></svg>: a symbol of the page's sprite. */
export function spriteIcon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('aria-hidden', 'true');
  const use = document.createElementNS(SVG_NS, 'use');
  use.setAttribute('href', '#i-' + name);
  svg.append(use);
  return svg;
}
