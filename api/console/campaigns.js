// Campaigns: state, progress and pick-up rate of each, archived ones on request.

import { get, can, query } from './api.js';
import { h, fill, badge, count, percent, table, here } from './ui.js';

/** Finished calls against all the work a campaign has: its calls plus the contacts not yet
 * made into calls. */
export function progress(stats) {
  const done = Object.values(stats.final_statuses ?? {}).reduce((a, b) => a + b, 0);
  const total = (stats.calls ?? 0) + (stats.contacts_not_called ?? 0);
  return { done, total, share: total > 0 ? done / total : 0 };
}

export function progressBar(stats) {
  const p = progress(stats);
  return h('div', {},
    h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': p.total, 'aria-valuenow': p.done, 'aria-label': 'Calls finished' },
      h('span', { style: { width: `${(p.share * 100).toFixed(1)}%` } })),
    h('span', { class: 'small muted' }, `${count(p.done)} of ${count(p.total)} done`));
}

export async function campaignsPage(main, params, signal) {
  document.title = 'Campaigns — dialer console';
  const archived = here().params.get('archived') === 'true';
  const campaigns = [];
  let after;
  // The list is short (campaigns, not calls): read it whole, 100 at a time.
  for (;;) {
    const page = await get(`/campaigns${query({ limit: 100, archived: archived || undefined, after })}`);
    campaigns.push(...page.filter((c) => !archived || c.archived_at));
    if (page.length < 100 || signal.aborted) break;
    after = page[page.length - 1].id;
  }
  const stats = await Promise.all(campaigns.map((c) => get(`/campaigns/${c.id}/stats`).catch(() => null)));
  if (signal.aborted) return;
  const rows = campaigns.map((c, i) => ({ c, s: stats[i] }));
  fill(main,
    h('div', { class: 'spread' },
      h('h1', {}, archived ? 'Archived campaigns' : 'Campaigns'),
      h('div', { class: 'row' },
        h('a', { href: archived ? '#/campaigns' : '#/campaigns?archived=true', class: 'button secondary' }, archived ? 'Current campaigns' : 'Archived'),
        can('write') ? h('a', { href: '#/campaigns/new', class: 'button' }, 'New campaign') : null)),
    rows.length === 0
      ? h('p', { class: 'muted card' }, archived ? 'No archived campaign.' : 'No campaign yet.')
      : table([
        { label: 'Name', cell: (r) => h('a', { href: `#/campaigns/${r.c.id}` }, r.c.name) },
        { label: 'State', cell: (r) => r.c.archived_at ? badge('archived') : badge(r.c.state) },
        { label: 'Progress', cell: (r) => (r.s ? progressBar(r.s) : '—') },
        { label: 'Attempts', num: true, cell: (r) => (r.s ? count(r.s.attempts) : '—') },
        { label: 'Pick-up rate', num: true, cell: (r) => (r.s ? percent(r.s.pick_up_rate) : '—') },
        { label: 'In flight / lines', num: true, cell: (r) => (r.s ? `${count(r.s.in_flight)} / ${count(r.c.settings.max_concurrent)}` : '—') },
      ], rows, 'Campaigns'));
}
