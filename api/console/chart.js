// A live chart of a campaign's attempts and outcomes over time, drawn as SVG from the call events
// the page receives: dials per interval as a line, outcomes per interval as stacked bars.

import { h } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';
const BUCKET_MS = 5000;
const BUCKETS = 60;
const W = 600;
const H = 180;
const PAD = { left: 32, right: 8, top: 8, bottom: 20 };

export const OUTCOMES = [
  ['PICKED', '#1a7f37'],
  ['RNR', '#bf8700'],
  ['DISCONNECTED', '#8250df'],
  ['FAILED', '#b42318'],
];
const DIALS = '#1f4e79';

function svg(tag, attrs) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

export function liveChart() {
  const buckets = new Map();
  const totals = { dials: 0, ...Object.fromEntries(OUTCOMES.map(([o]) => [o, 0])) };
  const picture = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' });
  const element = h('div', { class: 'chart' },
    picture,
    h('div', { class: 'legend' },
      h('span', {}, h('i', { style: { background: DIALS } }), 'dials'),
      OUTCOMES.map(([o, color]) => h('span', {}, h('i', { style: { background: color } }), o))));

  function slot(at) {
    const key = Math.floor(at / BUCKET_MS);
    if (!buckets.has(key)) buckets.set(key, { dials: 0 });
    return buckets.get(key);
  }

  /** Counts one call event: a dial starts an attempt, a final status is an outcome. */
  function add(event) {
    const b = slot(Date.now());
    if (event.status === 'DIALING') {
      b.dials += 1;
      totals.dials += 1;
    } else if (event.status in totals) {
      b[event.status] = (b[event.status] ?? 0) + 1;
      totals[event.status] += 1;
    }
  }

  function draw() {
    const now = Math.floor(Date.now() / BUCKET_MS);
    for (const key of buckets.keys()) if (key <= now - BUCKETS) buckets.delete(key);
    const series = Array.from({ length: BUCKETS }, (_, i) => buckets.get(now - BUCKETS + 1 + i) ?? { dials: 0 });
    const peak = Math.max(1, ...series.map((b) => Math.max(b.dials, OUTCOMES.reduce((a, [o]) => a + (b[o] ?? 0), 0))));
    const plotW = W - PAD.left - PAD.right;
    const plotH = H - PAD.top - PAD.bottom;
    const x = (i) => PAD.left + (i * plotW) / BUCKETS;
    const y = (v) => PAD.top + plotH - (v * plotH) / peak;
    picture.replaceChildren();
    picture.append(
      svg('line', { x1: PAD.left, y1: y(0), x2: W - PAD.right, y2: y(0), stroke: '#d5dbe1' }),
      Object.assign(svg('text', { x: PAD.left - 4, y: y(peak) + 10, 'text-anchor': 'end', 'font-size': 11, fill: '#5b6570' }), { textContent: String(peak) }),
      Object.assign(svg('text', { x: PAD.left - 4, y: y(0), 'text-anchor': 'end', 'font-size': 11, fill: '#5b6570' }), { textContent: '0' }),
      Object.assign(svg('text', { x: PAD.left, y: H - 4, 'font-size': 11, fill: '#5b6570' }), { textContent: `${(BUCKETS * BUCKET_MS) / 60000} min ago` }),
      Object.assign(svg('text', { x: W - PAD.right, y: H - 4, 'text-anchor': 'end', 'font-size': 11, fill: '#5b6570' }), { textContent: `now (per ${BUCKET_MS / 1000} s)` }));
    const barW = Math.max(1, plotW / BUCKETS - 2);
    series.forEach((b, i) => {
      let base = 0;
      for (const [o, color] of OUTCOMES) {
        const v = b[o] ?? 0;
        if (!v) continue;
        picture.append(svg('rect', { x: x(i) + 1, y: y(base + v), width: barW, height: y(base) - y(base + v), fill: color }));
        base += v;
      }
    });
    const points = series.map((b, i) => `${x(i) + barW / 2 + 1},${y(b.dials)}`).join(' ');
    picture.append(svg('polyline', { points, fill: 'none', stroke: DIALS, 'stroke-width': 2 }));
    picture.setAttribute('aria-label',
      `Since this page opened: ${totals.dials} dials; ${OUTCOMES.map(([o]) => `${totals[o]} ${o}`).join(', ')}.`);
  }

  draw();
  return { element, add, draw, totals };
}
