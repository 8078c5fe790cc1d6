// One campaign: its lifecycle, contact upload with the data-quality report, and live numbers —
// stats refreshed as call events arrive over server-sent events, a chart of attempts and
// outcomes, lines in use, and why calls wait. A messaging campaign's page shows its messages
// instead (`sends.js`).

import { get, post, del, can, upload, follow } from './api.js';
import { h, fill, badge, count, percent, when, stat, table, toast, field, submitting } from './ui.js';
import { progressBar } from './campaigns.js';
import { liveChart } from './chart.js';
import { messagingLive } from './sends.js';

const ACTIONS = {
  draft: [['start', 'Start']],
  running: [['pause', 'Pause'], ['stop', 'Stop']],
  paused: [['resume', 'Resume'], ['stop', 'Stop']],
};

function actions(campaign, reload) {
  if (!can('write')) return null;
  const act = (path, label, cls) => h('button', {
    type: 'button', class: cls,
    onclick: async (e) => {
      e.target.disabled = true;
      try {
        const out = await post(`/campaigns/${campaign.id}/${path}`);
        const cancelled = out?.cancelled_calls ? ` (${out.cancelled_calls} pending calls cancelled)` : '';
        toast(`${label}: done${cancelled}`);
        reload();
      } catch (err) {
        toast(err.message, true);
        e.target.disabled = false;
      }
    },
  }, label);
  const buttons = campaign.archived_at
    ? [act('unarchive', 'Unarchive', 'secondary')]
    : (ACTIONS[campaign.state] ?? []).map(([p, l]) => act(p, l, p === 'stop' ? 'danger' : null));
  if (!campaign.archived_at && ['draft', 'stopped', 'completed'].includes(campaign.state)) {
    buttons.push(act('archive', 'Archive', 'secondary'));
  }
  buttons.push(h('a', { href: `#/campaigns/${campaign.id}/edit`, class: 'button secondary' }, 'Edit'));
  if (can('admin') && campaign.state === 'draft') {
    buttons.push(h('button', {
      type: 'button', class: 'danger',
      onclick: async () => {
        if (!window.confirm(`Delete the draft campaign "${campaign.name}" and its contacts?`)) return;
        try {
          await del(`/campaigns/${campaign.id}`);
          toast('Campaign deleted');
          window.location.hash = '#/campaigns';
        } catch (err) {
          toast(err.message, true);
        }
      },
    }, 'Delete'));
  }
  return h('div', { class: 'row', role: 'group', 'aria-label': 'Campaign actions' }, buttons);
}

function waiting(stats, campaign) {
  const w = stats.waiting;
  const blocked = Object.entries(stats.blocked ?? {});
  return h('div', { class: 'card', 'aria-labelledby': 'waiting-title' },
    h('h2', { id: 'waiting-title' }, 'Why calls are waiting'),
    w
      ? h('ul', { class: 'reasons' },
        h('li', { dataset: { waiting: 'lines' } }, `${count(w.lines)} for a line — ${count(w.lines_busy)} of ${count(w.lines_total)} lines busy`),
        h('li', { dataset: { waiting: 'rate_limit' } }, `${count(w.rate_limit)} for the rate limit${campaign.settings.max_calls_per_second ? ` (${campaign.settings.max_calls_per_second}/s)` : ''}`),
        h('li', { dataset: { waiting: 'calling_hours' } }, `${count(w.calling_hours)} for calling hours`, w.calling_hours_open_at ? ` — until ${when(w.calling_hours_open_at)}` : ''))
      : h('p', { class: 'muted' }, `Nothing is queued now (the campaign is ${campaign.state}).`),
    h('p', { dataset: { waiting: 'blocked' } }, 'Not dialed at all: ',
      blocked.length ? blocked.map(([k, v]) => `${count(v)} ${k === 'dnc' ? 'on the do-not-call list' : k.replaceAll('_', ' ')}`).join(', ') : 'none'));
}

function numbers(stats, campaign) {
  return h('div', { class: 'stats' },
    stat('Contacts', count(stats.contacts), 'contacts'),
    stat('Calls', count(stats.calls), 'calls'),
    stat('Attempts', count(stats.attempts), 'attempts'),
    stat('Picked', count(stats.picked), 'picked'),
    stat('Pick-up rate', percent(stats.pick_up_rate), 'pick_up_rate'),
    stat('In flight / lines', `${count(stats.in_flight)} / ${count(campaign.settings.max_concurrent)}`, 'in_flight'),
    stat('Retries waiting', count(stats.retries_pending), 'retries_pending'),
    stat('Opt-outs', count(stats.opt_outs), 'opt_outs'));
}

function report(r) {
  return h('div', { class: 'card', dataset: { report: '' } },
    h('h2', {}, 'Data-quality report'),
    h('div', { class: 'stats' },
      stat('Rows read', count(r.rows), 'rows'), stat('Added', count(r.added), 'added'),
      stat('Merged', count(r.merged), 'merged'), stat('Duplicates', count(r.duplicates), 'duplicates'),
      stat('Invalid', count(r.invalid), 'invalid')),
    r.invalid_rows.length ? [h('h3', {}, 'Invalid rows'), table([
      { label: 'Line', num: true, cell: (x) => x.line },
      { label: 'Value', cell: (x) => x.value },
      { label: 'Why', cell: (x) => x.reason },
    ], r.invalid_rows, 'Invalid rows')] : null,
    r.duplicate_rows.length ? [h('h3', {}, 'Repeated numbers'), table([
      { label: 'Line', num: true, cell: (x) => x.line },
      { label: 'Number', cell: (x) => x.phone_number },
      { label: 'First on line', num: true, cell: (x) => x.first_line },
    ], r.duplicate_rows, 'Repeated numbers')] : null);
}

/** What the campaign will do once started: its settings in words. */
function summary(campaign) {
  const s = campaign.settings;
  const rate = [s.max_calls_per_second && `${s.max_calls_per_second}/s`, s.max_calls_per_minute && `${s.max_calls_per_minute}/min`].filter(Boolean);
  const rows = [
    ['Calling hours', `${s.calling_hours.map((w) => `${w.day_of_week} ${w.start_time}–${w.end_time}`).join(', ')} — ${s.zone_policy === 'campaign' ? `in ${s.time_zone}` : `the recipient's local time (${s.time_zone} when the number says nothing)`}`],
    ['Retries', `up to ${s.retry.max_attempts} attempts; after ${s.retry.retry_on.join(', ') || 'nothing'}; ${s.retry.rules.length} rule(s)`],
    ['Lines', `${s.max_concurrent} (${s.one_off_share_percent}% kept for one-off calls)`],
    ['Rate', rate.length ? rate.join(' and ') : 'no limit'],
    ['Caller ID', s.caller_id ?? 'the provider\'s'],
    ['Provider', s.provider],
  ];
  const m = s.messaging;
  if (m) {
    const rates = [m.max_messages_per_second && `${m.max_messages_per_second}/s`, m.max_messages_per_second_per_sender && `${m.max_messages_per_second_per_sender}/s per sender`].filter(Boolean);
    rows.splice(1, 3,
      ['Channel', s.channel === 'whatsapp' ? 'WhatsApp' : 'SMS'],
      ['Template', `${m.template} (${m.locale})`],
      ['Starting it sends to', m.segment ? `the segment ${m.segment}` : m.topic ? `the subscribers of ${m.topic}` : 'no one: trigger events only'],
      ['Consent', m.require_opt_in ? 'only recipients who opted in' : 'anyone who has not opted out'],
      ['Retries', `up to ${m.max_attempts} attempts for retryable error codes, ${m.retry_after_secs} s apart`],
      ['Rate', rates.length ? rates.join(' and ') : 'no limit']);
    rows[0][0] = 'Quiet hours (sends only within)';
  }
  return h('div', { class: 'card', dataset: { summary: '' } }, h('h2', {}, 'Settings'),
    h('dl', { class: 'grid' }, rows.map(([k, v]) => h('div', {}, h('dt', { class: 'small muted' }, k), h('dd', {}, v)))));
}

/** The first contacts of the list, with their attributes. */
async function contacts(campaign, into) {
  const list = await get(`/campaigns/${campaign.id}/contacts?limit=10`);
  fill(into, h('div', { class: 'card' }, h('h2', {}, 'Contacts (the first 10)'),
    list.length ? table([
      { label: 'Number', cell: (c) => h('a', { href: `#/explain?campaign_id=${campaign.id}&phone_number=${encodeURIComponent(c.phone_number)}` }, c.phone_number) },
      { label: 'Attributes', cell: (c) => Object.entries(c.attributes).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ') || '—' },
      { label: 'Added', cell: (c) => when(c.added_at) },
    ], list, 'Contacts') : h('p', { class: 'muted' }, 'No contact yet.')));
}

/** A file upload with a progress bar and the data-quality report, to `path`. */
export function uploader(path, title, help, after) {
  const file = h('input', { type: 'file', accept: '.csv,.json,.jsonl,.ndjson,text/csv,application/json', required: true });
  const bar = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card' },
    h('h2', {}, title),
    h('p', { class: 'small muted' }, help),
    field('File', 'file', file),
    bar,
    h('button', { type: 'submit' }, 'Upload'),
    out);
  submitting(form, async () => {
    if (!file.files.length) throw Object.assign(new Error('Choose a file first.'), { field: 'file' });
    fill(out);
    bar.hidden = false;
    bar.value = 0;
    const r = await upload(path, file.files[0], (p) => { bar.value = p; });
    bar.value = 1;
    fill(out, report(r));
    toast(`${count(r.added)} added, ${count(r.merged)} merged, ${count(r.invalid)} invalid`);
    after();
  });
  return form;
}

function callNow(campaign) {
  const number = h('input', { type: 'tel', required: true, placeholder: '+14155552671' });
  const form = h('form', { class: 'card' },
    h('h2', {}, 'Call a number now'),
    field('Phone number', 'phone_number', number),
    h('button', { type: 'submit' }, 'Call now'));
  submitting(form, async () => {
    const call = await post('/initiate-call', { phone_number: number.value.trim(), campaign_id: campaign.id });
    toast('Call accepted');
    window.location.hash = `#/calls/${call.call_id}`;
  });
  return form;
}

export async function campaignPage(main, id, signal) {
  let campaign = await get(`/campaigns/${id}`);
  if (signal.aborted) return;
  document.title = `${campaign.name} — dialer console`;
  const head = h('div');
  const live = h('div');
  const stream = h('span', { class: 'small muted', dataset: { stream: '' } }, 'connecting…');
  const chart = liveChart();
  let changed = () => reload();
  const drawHead = () => fill(head,
    h('div', { class: 'spread' },
      h('h1', {}, campaign.name, ' ', campaign.archived_at ? badge('archived') : badge(campaign.state)),
      actions(campaign, () => changed())),
    campaign.description ? h('p', { class: 'muted' }, campaign.description) : null,
    campaign.settings.messaging ? null : h('p', { class: 'small' },
      h('a', { href: `#/calls?campaign_id=${campaign.id}` }, 'Calls of this campaign'), ' · ',
      can('write') ? [h('a', { href: `#/calls/new?campaign_id=${campaign.id}` }, 'Schedule a call'), ' · '] : null,
      h('a', { href: `#/explain?campaign_id=${campaign.id}` }, 'Why not dialed?')));
  let pending = null;
  const refresh = async () => {
    pending = null;
    try {
      const stats = await get(`/campaigns/${id}/stats`);
      if (signal.aborted) return;
      if (stats.state !== campaign.state) {
        campaign = await get(`/campaigns/${id}`);
        drawHead();
      }
      fill(live, numbers(stats, campaign), progressBar(stats), waiting(stats, campaign));
    } catch (err) {
      if (!signal.aborted) fill(live, h('p', { class: 'form-error', role: 'alert' }, err.message));
    }
  };
  // Events come in bursts: one stats read per second at most.
  const soon = () => { pending ??= setTimeout(refresh, 1000); };
  async function reload() {
    campaign = await get(`/campaigns/${id}`);
    drawHead();
    refresh();
  }
  if (campaign.settings.messaging) {
    // An action (start, pause, stop) draws the whole page again: what it offers depends on it.
    changed = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
    drawHead();
    fill(main, head, messagingLive(campaign, signal), summary(campaign));
    return;
  }
  drawHead();
  await refresh();
  if (signal.aborted) return;
  const people = h('div');
  const contactsSoon = () => contacts(campaign, people).catch(() => {});
  fill(main,
    head,
    h('section', { 'aria-labelledby': 'live-title' },
      h('div', { class: 'spread' }, h('h2', { id: 'live-title' }, 'Live'), stream),
      live,
      h('div', { class: 'card' }, h('h2', {}, 'Attempts and outcomes'), chart.element)),
    summary(campaign),
    can('write') ? uploader(`/campaigns/${campaign.id}/contacts/import`, 'Upload contacts',
      'CSV with a phone_number column (other columns become the contact\'s attributes), a JSON array of objects, or JSON lines.',
      () => { soon(); contactsSoon(); }) : null,
    people,
    can('write') ? callNow(campaign) : null);
  contactsSoon();
  follow(`/events?campaign_id=${id}`, (event, data) => {
    if (event !== 'call') return;
    chart.add(data);
    soon();
  }, signal, (state) => fill(stream, state === 'live' ? '● live' : 'reconnecting…'));
  const timers = [setInterval(refresh, 5000), setInterval(() => chart.draw(), 1000)];
  signal.addEventListener('abort', () => {
    timers.forEach(clearInterval);
    clearTimeout(pending);
  });
}
