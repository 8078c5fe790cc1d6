// Calls: the list with filters and search by number, one call with its audit timeline, scheduling
// a call (with the recipient's local time and calling hours), and "why not dialed".

import { get, post, can, query, follow } from './api.js';
import { h, fill, badge, when, whenIn, table, toast, field, submitting, showError, here, zone } from './ui.js';

const STATUSES = ['SCHEDULED', 'INITIATED', 'DIALING', 'RINGING', 'IN_PROGRESS', 'PICKED', 'DISCONNECTED', 'RNR',
  'FAILED', 'RETRYING', 'EXHAUSTED', 'CANCELLED', 'BLOCKED_DNC', 'BLOCKED_OPT_OUT', 'BLOCKED_CALLING_HOURS', 'BLOCKED_DUPLICATE'];
const PENDING = ['SCHEDULED', 'INITIATED', 'RETRYING'];

async function campaignOptions(selected, { blank } = {}) {
  const campaigns = await get('/campaigns?limit=1000');
  const select = h('select', {},
    blank ? h('option', { value: '' }, blank) : null,
    campaigns.map((c) => h('option', { value: String(c.id) }, `${c.name} (#${c.id})`)));
  if (selected) select.value = String(selected);
  return select;
}

function options(values, selected, blank) {
  const select = h('select', {}, h('option', { value: '' }, blank), values.map((v) => h('option', { value: v }, v)));
  select.value = selected ?? '';
  return select;
}

async function cancel(call, after) {
  try {
    await post(`/calls/${call.call_id}/cancel`);
    toast('Call cancelled');
    after();
  } catch (err) {
    toast(err.message, true);
  }
}

function cancelButton(call, after) {
  if (!can('write') || !PENDING.includes(call.status)) return null;
  return h('button', { type: 'button', class: 'secondary', 'aria-label': `Cancel the call to ${call.phone_number}`, onclick: () => cancel(call, after) }, 'Cancel');
}

export async function callsPage(main) {
  document.title = 'Calls — dialer console';
  const p = here().params;
  const filters = {
    campaign_id: p.get('campaign_id') ?? '', status: p.get('status') ?? '', origin: p.get('origin') ?? '', phone_number: p.get('phone_number') ?? '',
  };
  const campaign = await campaignOptions(filters.campaign_id, { blank: 'any campaign' });
  const status = options(STATUSES, filters.status, 'any status');
  const origin = options(['campaign', 'api', 'scheduled'], filters.origin, 'any origin');
  const number = h('input', { type: 'search', value: filters.phone_number, placeholder: '+14155552671' });
  const form = h('form', { class: 'card row', role: 'search' },
    field('Campaign', 'campaign_id', campaign), field('Status', 'status', status),
    field('Origin', 'origin', origin), field('Number', 'phone_number', number),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Filter')));
  const results = h('div');
  const more = h('div');
  submitting(form, async () => {
    const q = query({ campaign_id: campaign.value, status: status.value, origin: origin.value, phone_number: number.value.trim() });
    // The same filters again would not change the hash: load in place.
    if (`#/calls${q}` === window.location.hash) await load(null);
    else window.location.hash = `#/calls${q}`;
  });
  const rows = [];
  const reload = () => { rows.length = 0; load(null).catch((err) => toast(err.message, true)); };
  async function load(cursor) {
    const page = await get(`/calls${query({ ...filters, limit: 50, cursor })}`);
    rows.push(...page.results);
    fill(results, rows.length === 0 ? h('p', { class: 'muted card' }, 'No call matches.') : table([
      { label: 'Scheduled', cell: (c) => when(c.scheduled_at) },
      { label: 'Number', cell: (c) => h('a', { href: `#/calls/${c.call_id}` }, c.phone_number) },
      { label: 'Campaign', num: true, cell: (c) => h('a', { href: `#/campaigns/${c.campaign_id}` }, `#${c.campaign_id}`) },
      { label: 'Status', cell: (c) => badge(c.status) },
      { label: 'Attempts', num: true, cell: (c) => `${c.attempt_count} / ${c.max_attempts}` },
      { label: 'Origin', cell: (c) => c.origin },
      { label: 'Actions', cell: (c) => cancelButton(c, reload) },
    ], rows, 'Calls'));
    fill(more, page.next_cursor ? h('button', { type: 'button', class: 'secondary', onclick: () => load(page.next_cursor).catch((err) => toast(err.message, true)) }, 'More') : null);
  }
  fill(main,
    h('div', { class: 'spread' }, h('h1', {}, 'Calls'),
      can('write') ? h('a', { href: `#/calls/new${query({ campaign_id: filters.campaign_id })}`, class: 'button' }, 'Schedule a call') : null),
    form, results, more);
  try {
    await load(null);
  } catch (err) {
    showError(form, err);
  }
}

function timeline(events) {
  return h('ol', { class: 'timeline', 'aria-label': 'Audit timeline' }, events.map((e) => h('li', {},
    h('div', {}, h('span', { class: 'kind' }, e.kind.replaceAll('_', ' ')), ' ',
      e.to_status ? [e.from_status ? `${e.from_status} → ` : '', badge(e.to_status)] : null),
    h('div', { class: 'small muted' }, `${when(e.at)} · attempt ${e.attempt}`),
    details(e.detail))));
}

/** A decision's details as `name: value` pairs (its kind is the heading already). */
function details(detail) {
  const pairs = Object.entries(detail ?? {}).filter(([k, v]) => k !== 'kind' && v !== null && v !== undefined);
  if (!pairs.length) return null;
  return h('div', { class: 'small muted detail' }, pairs.map(([k, v]) =>
    h('span', {}, `${k.replaceAll('_', ' ')}: `, h('code', {}, typeof v === 'object' ? (v.kind ?? JSON.stringify(v)) : String(v)))));
}

export async function callPage(main, id, signal) {
  const draw = async () => {
    const call = await get(`/calls/${id}`);
    if (signal.aborted) return call;
    document.title = `Call to ${call.phone_number} — dialer console`;
    fill(main,
      h('div', { class: 'spread' }, h('h1', {}, 'Call to ', call.phone_number, ' ', badge(call.status)), cancelButton(call, draw)),
      h('div', { class: 'card grid' },
        [['Campaign', h('a', { href: `#/campaigns/${call.campaign_id}` }, `#${call.campaign_id}`)],
          ['Origin', call.origin], ['Attempts', `${call.attempt_count} of ${call.max_attempts}`],
          ['Scheduled for', when(call.scheduled_at)], ['Last attempt', when(call.last_attempt_at)],
          ['Next attempt', when(call.next_retry_at)], ['Last outcome', call.last_outcome ?? '—'],
          ['Talk time', `${call.total_call_time} s`], ['Provider id', call.external_call_id ?? '—'],
          ['Error', call.error_message ?? '—'], ['Call id', call.call_id]]
          .map(([k, v]) => h('div', {}, h('div', { class: 'small muted' }, k), h('div', {}, v)))),
      h('h2', {}, 'Audit timeline'),
      timeline(call.events));
    return call;
  };
  const call = await draw();
  if (signal.aborted) return;
  follow(`/events?campaign_id=${call.campaign_id}`, (event, data) => {
    if (event === 'call' && data.call_id === id) draw().catch(() => {});
  }, signal);
}

/** A datetime-local value (the operator's zone) as an RFC 3339 instant. */
const instant = (local) => (local ? new Date(local).toISOString() : null);

function explained(x, numberZone = true) {
  const zones = x.policy.zones ?? [];
  const open = x.policy.calling_hours.open_now;
  return h('div', { dataset: { explained: '' } },
    numberZone && zones.length ? h('p', {}, 'Recipient\'s local time: ',
      zones.map((z) => h('strong', {}, whenIn(x.at, z.zone))).flatMap((el, i) => (i ? [' / ', el] : [el])),
      ` (${zones.map((z) => z.zone).join(', ')})`) : null,
    h('p', { class: open ? 'ok' : 'bad', dataset: { hours: open ? 'open' : 'closed' } }, open
      ? 'Calling hours allow it.'
      : x.policy.calling_hours.next_open
        ? `Outside calling hours: it would be dialed at ${when(x.policy.calling_hours.next_open)} (your time).`
        : 'The calling hours never open for this number.'));
}

export async function schedulePage(main, params, signal) {
  if (!can('write')) {
    window.location.replace('#/calls');
    return;
  }
  document.title = 'Schedule a call — dialer console';
  const campaign = await campaignOptions(here().params.get('campaign_id'));
  const number = h('input', { type: 'tel', required: true, placeholder: '+14155552671' });
  const at = h('input', { type: 'datetime-local', step: 60 });
  const check = h('div', { 'aria-live': 'polite', class: 'card' }, h('p', { class: 'muted' }, 'Enter a number and a time to see the recipient\'s local time.'));
  const form = h('form', { class: 'card' },
    field('Campaign', 'campaign_id', campaign),
    field('Phone number', 'phone_number', number),
    field(`When (your time, ${zone})`, 'scheduled_at', at, 'empty: now'),
    h('div', { class: 'row' },
      h('button', { type: 'submit', value: 'schedule' }, 'Schedule'),
      h('button', { type: 'submit', value: 'now', class: 'secondary' }, 'Call now')));
  let timer = null;
  const recheck = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!number.value.trim() || !campaign.value) return;
      try {
        const x = await get(`/campaigns/${campaign.value}/explain${query({ phone_number: number.value.trim(), at: instant(at.value) })}`);
        if (!signal.aborted) fill(check, explained(x));
      } catch (err) {
        if (!signal.aborted) fill(check, h('p', { class: 'bad' }, err.message));
      }
    }, 300);
  };
  [number, at, campaign].forEach((el) => el.addEventListener('input', recheck));
  submitting(form, async (submitter) => {
    const body = { campaign_id: Number(campaign.value), phone_number: number.value.trim() };
    const call = submitter?.value === 'now'
      ? await post('/initiate-call', body)
      : await post('/calls', { ...body, scheduled_at: instant(at.value) ?? undefined });
    toast(submitter?.value === 'now' ? 'Call accepted' : 'Call scheduled');
    window.location.hash = `#/calls/${call.call_id}`;
  });
  fill(main, h('h1', {}, 'Schedule a call'), form, check);
  number.focus();
}

export async function explainPage(main) {
  document.title = 'Why not dialed — dialer console';
  const p = here().params;
  const campaign = await campaignOptions(p.get('campaign_id'));
  const number = h('input', { type: 'tel', required: true, value: p.get('phone_number') ?? '', placeholder: '+14155552671' });
  const at = h('input', { type: 'datetime-local', step: 60 });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card row' },
    field('Campaign', 'campaign_id', campaign), field('Phone number', 'phone_number', number),
    field(`At (your time, ${zone})`, 'at', at, 'empty: now'),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Explain')));
  submitting(form, async () => {
    const x = await get(`/campaigns/${campaign.value}/explain${query({ phone_number: number.value.trim(), at: instant(at.value) })}`);
    fill(out, h('div', { class: 'card' },
      h('h2', {}, x.dialable ? h('span', { class: 'ok' }, 'Nothing stops it being dialed') : h('span', { class: 'bad' }, 'Not dialed, because:')),
      x.reasons.length ? h('ul', { class: 'reasons', dataset: { reasons: '' } }, x.reasons.map((r) => h('li', {}, r))) : null,
      explained(x),
      x.latest_call ? h('p', {}, 'Latest call: ', h('a', { href: `#/calls/${x.latest_call.call_id}` }, x.latest_call.status), ` (${when(x.latest_call.updated_at)})`) : h('p', { class: 'muted' }, 'No call to this number in this campaign yet.'),
      h('h3', {}, 'Zones'),
      table([
        { label: 'Zone', cell: (z) => z.zone }, { label: 'Local time', cell: (z) => z.local_time },
        { label: 'UTC offset', cell: (z) => z.utc_offset }, { label: 'Calling hours', cell: (z) => (z.open ? 'open' : 'closed') },
      ], x.policy.zones, 'Zones'),
      h('p', { class: 'small muted' }, `Zones from: ${x.policy.zone_source}. Windows: ${x.policy.calling_hours.windows.join('; ')}`),
      h('h3', {}, 'If this attempt ends…'),
      table([
        { label: 'Outcome', cell: (o) => o.outcome },
        { label: 'Attempts (your time)', cell: (o) => o.attempts.map((a) => `#${a.attempt} ${when(a.dial_at)}`).join(', ') || '—' },
        { label: 'Then', cell: (o) => o.end.kind.replaceAll('_', ' ') },
      ], x.policy.retries, 'Retry plan')));
  });
  fill(main, h('h1', {}, 'Why not dialed?'), form, out);
  if (number.value) form.requestSubmit();
}
