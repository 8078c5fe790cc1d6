// The do-not-call list and opt-outs: add a number, search one, remove one (admins: an opt-out is
// the recipient's wish), and page through the list by kind.

import { get, post, del, can, query } from './api.js';
import { h, fill, when, table, toast, field, submitting } from './ui.js';

const KINDS = [['dnc', 'do not call'], ['opt_out', 'opted out']];

function kindSelect(blank) {
  return h('select', {}, blank ? h('option', { value: '' }, blank) : null, KINDS.map(([v, l]) => h('option', { value: v }, l)));
}

function removeButton(entry, after) {
  if (!can('admin')) return null;
  return h('button', {
    type: 'button', class: 'secondary', 'aria-label': `Remove ${entry.phone_number} (${entry.kind})`,
    onclick: async () => {
      if (!window.confirm(`Remove ${entry.phone_number} from the ${entry.kind === 'opt_out' ? 'opt-outs' : 'do-not-call list'}?`)) return;
      try {
        await del(`/dnc/${encodeURIComponent(entry.phone_number)}${query({ kind: entry.kind })}`);
        toast('Removed');
        after();
      } catch (err) {
        toast(err.message, true);
      }
    },
  }, 'Remove');
}

const columns = (after) => [
  { label: 'Number', cell: (e) => e.phone_number },
  { label: 'Kind', cell: (e) => e.kind },
  { label: 'Added by', cell: (e) => e.source },
  { label: 'Added', cell: (e) => when(e.added_at) },
  { label: 'Actions', cell: (e) => removeButton(e, after) },
];

export async function dncPage(main, params, signal) {
  document.title = 'Do-not-call — dialer console';
  const found = h('div', { 'aria-live': 'polite' });
  const list = h('div');
  const more = h('div');
  const kind = kindSelect('both kinds');
  const rows = [];
  async function load(cursor) {
    if (!cursor) rows.length = 0;
    const page = await get(`/dnc${query({ kind: kind.value, limit: 100, cursor })}`);
    if (signal.aborted) return;
    rows.push(...page.results);
    fill(list, rows.length ? table(columns(refresh), rows, 'Do-not-call list') : h('p', { class: 'muted' }, 'The list is empty.'));
    fill(more, page.next_cursor ? h('button', { type: 'button', class: 'secondary', onclick: () => load(page.next_cursor) }, 'More') : null);
  }
  const refresh = () => load(null).catch((err) => toast(err.message, true));
  kind.addEventListener('change', refresh);

  const searchNumber = h('input', { type: 'search', required: true, placeholder: '+14155552671' });
  const search = h('form', { class: 'card row', role: 'search' },
    field('Search a number', 'phone_number', searchNumber),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Search')));
  const lookUp = async () => {
    const check = await get(`/dnc/${encodeURIComponent(searchNumber.value.trim())}`);
    fill(found, h('div', { class: 'card', dataset: { found: check.blocked ? 'blocked' : 'clear' } },
      h('p', { class: check.blocked ? 'bad' : 'ok' }, check.blocked ? `${check.phone_number} is not dialed:` : `${check.phone_number} is not on the list.`),
      check.entries.length ? table(columns(() => { lookUp().catch(() => fill(found)); refresh(); }), check.entries, 'Entries for the number') : null));
  };
  submitting(search, lookUp);

  let add = null;
  if (can('write')) {
    const number = h('input', { type: 'tel', required: true, placeholder: '+14155552671' });
    const addKind = kindSelect();
    const region = h('input', { maxlength: 2, placeholder: 'US', size: 3 });
    add = h('form', { class: 'card row' },
      field('Number', 'phone_number', number), field('Kind', 'kind', addKind),
      field('Region', 'region', region, 'for numbers without +'),
      h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Add to the list')));
    submitting(add, async () => {
      const entry = await post('/dnc', { phone_number: number.value.trim(), kind: addKind.value, region: region.value.trim() || null });
      toast(`${entry.phone_number} added`);
      number.value = '';
      refresh();
    });
  }
  fill(main, h('h1', {}, 'Do-not-call and opt-outs'), add, search, found,
    h('div', { class: 'spread' }, h('h2', {}, 'The list'), field('Show', 'kind', kind)), list, more);
  await load(null);
}
