// Creating and editing a campaign: calling hours, retry rules, lines, rate and caller ID. The
// engine checks every rule; its answer names the field, and the error is shown there.

import { get, post, patch, can } from './api.js';
import { h, fill, field, submitting, toast } from './ui.js';

const DAYS = ['daily', 'weekdays', 'weekends', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const RETRYABLE = ['DISCONNECTED', 'RNR', 'FAILED'];

function daysList() {
  return h('datalist', { id: 'days' }, DAYS.map((d) => h('option', { value: d })));
}

function zonesList() {
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return h('datalist', { id: 'zones' }, ['UTC', ...zones].map((z) => h('option', { value: z })));
}

/** A list of rows (calling-hour windows, retry rules) the operator can add to and remove from. */
function rows(name, items, make, blank, noun) {
  const list = h('div', { class: 'rules' });
  const add = (item) => {
    const index = list.children.length;
    const errorId = `${name}-${index}-${Math.random().toString(36).slice(2, 7)}`;
    const row = h('div', { class: 'rule', dataset: { field: `${name}[${index}]` }, tabindex: '-1', 'aria-describedby': errorId });
    const remove = h('button', { type: 'button', class: 'secondary', 'aria-label': `Remove ${noun} ${index + 1}`, onclick: () => row.remove() }, 'Remove');
    row.append(...make(item, `${name}[${index}]`), remove, h('div', { class: 'error full', id: errorId }));
    list.append(row);
  };
  items.forEach(add);
  const more = h('button', { type: 'button', class: 'secondary', onclick: () => add(blank) }, `Add ${noun}`);
  return { element: h('div', {}, list, more), list };
}

function window_(w, at) {
  return [
    field('Days', `${at}.day_of_week`, h('input', { list: 'days', value: w.day_of_week, required: true })),
    field('From', `${at}.start_time`, h('input', { type: 'time', value: w.start_time, required: true })),
    field('Until', `${at}.end_time`, h('input', { type: 'time', value: w.end_time, required: true })),
  ];
}

function rule(r, at) {
  return [
    ...window_(r, at),
    field('Every (min)', `${at}.retry_interval_minutes`, h('input', { type: 'number', min: 1, value: r.retry_interval_minutes, required: true })),
  ];
}

const value = (row, suffix) => row.querySelector(`[data-field$="${suffix}"]`).value;
const number = (input) => (input.value === '' ? null : Number(input.value));

export async function campaignForm(main, id, signal) {
  if (!can('write')) {
    window.location.replace(id ? `#/campaigns/${id}` : '#/campaigns');
    return;
  }
  const campaign = id ? await get(`/campaigns/${id}`) : null;
  if (signal.aborted) return;
  const defaults = campaign?.settings ?? {
    time_zone: 'UTC',
    zone_policy: 'recipient',
    calling_hours: [{ day_of_week: 'daily', start_time: '08:00', end_time: '21:00' }],
    retry: { max_attempts: 3, retry_on: RETRYABLE, rules: [] },
    max_concurrent: 10,
    one_off_share_percent: 10,
    provider: 'sim',
  };
  document.title = `${campaign ? 'Edit' : 'New'} campaign — dialer console`;
  const input = (attrs) => h('input', attrs);
  const name = input({ value: campaign?.name ?? '', required: true, maxlength: 200 });
  const description = h('textarea', { rows: 2 }, campaign?.description ?? '');
  const active = input({ type: 'checkbox', checked: campaign ? campaign.is_active : true });
  const zone = input({ list: 'zones', value: defaults.time_zone, required: true });
  const policy = h('select', {},
    h('option', { value: 'recipient' }, 'the recipient\'s (from the number)'),
    h('option', { value: 'campaign' }, 'the campaign\'s zone'));
  policy.value = defaults.zone_policy;
  const hours = rows('settings.calling_hours', defaults.calling_hours, window_, { day_of_week: 'daily', start_time: '09:00', end_time: '17:00' }, 'window');
  const retry = defaults.retry ?? { max_attempts: 3, retry_on: RETRYABLE, rules: [] };
  const attempts = input({ type: 'number', min: 1, value: retry.max_attempts, required: true });
  const retryOn = RETRYABLE.map((s) => input({ type: 'checkbox', value: s, checked: retry.retry_on.includes(s) }));
  const rules = rows('settings.retry.rules', retry.rules, rule, { day_of_week: 'weekdays', start_time: '09:00', end_time: '17:00', retry_interval_minutes: 60 }, 'retry rule');
  const lines = input({ type: 'number', min: 1, value: defaults.max_concurrent, required: true });
  const share = input({ type: 'number', min: 0, max: 99, value: defaults.one_off_share_percent });
  const cps = input({ type: 'number', min: 1, value: defaults.max_calls_per_second ?? '' });
  const cpm = input({ type: 'number', min: 1, value: defaults.max_calls_per_minute ?? '' });
  const callerId = input({ type: 'tel', value: defaults.caller_id ?? '', placeholder: '+14155550100' });
  const provider = input({ value: defaults.provider, required: true });
  const ring = input({ type: 'number', min: 1, value: defaults.ring_timeout_secs ?? 30 });

  const form = h('form', { class: 'card', novalidate: true },
    zonesList(), daysList(),
    field('Name', 'name', name),
    field('Description', 'description', description),
    campaign ? h('div', { class: 'field' }, h('label', {}, active, ' Active (takes calls)')) : null,
    h('fieldset', {}, h('legend', {}, 'Calling hours'),
      h('div', { class: 'grid' },
        field('Time zone', 'settings.time_zone', zone, 'IANA name'),
        field('Hours are read in', 'settings.zone_policy', policy)),
      hours.element),
    h('fieldset', { dataset: { field: 'settings.retry' }, tabindex: '-1', 'aria-describedby': 'retry-error' }, h('legend', {}, 'Retry rules'),
      h('div', { class: 'grid' },
        field('Attempts at most', 'settings.retry.max_attempts', attempts),
        h('div', { class: 'field', role: 'group', 'aria-label': 'Retry after' },
          h('span', { class: 'small' }, 'Retry after'),
          retryOn.map((c) => h('label', { class: 'small' }, c, ` ${c.value}`)))),
      h('p', { class: 'small muted' }, 'A retry is due after the interval of the rule whose window (the recipient\'s local time) holds the attempt\'s end.',
        campaign ? null : ' Add none to start from the engine\'s default rules.'),
      rules.element,
      h('div', { class: 'error', id: 'retry-error' })),
    h('fieldset', {}, h('legend', {}, 'Lines, rate and caller ID'),
      h('div', { class: 'grid' },
        field('Lines', 'settings.max_concurrent', lines, 'simultaneous calls'),
        field('Reserved for one-off calls (%)', 'settings.one_off_share_percent', share),
        field('Calls per second', 'settings.max_calls_per_second', cps, 'empty: no limit'),
        field('Calls per minute', 'settings.max_calls_per_minute', cpm, 'empty: no limit'),
        field('Caller ID', 'settings.caller_id', callerId, 'empty: the provider\'s'),
        field('Provider', 'settings.provider', provider),
        field('Ring timeout (s)', 'settings.ring_timeout_secs', ring))),
    h('div', { class: 'row' },
      h('button', { type: 'submit' }, campaign ? 'Save' : 'Create campaign'),
      h('a', { href: campaign ? `#/campaigns/${id}` : '#/campaigns', class: 'button secondary' }, 'Cancel')));

  submitting(form, async () => {
    const settings = {
      time_zone: zone.value.trim(),
      zone_policy: policy.value,
      calling_hours: [...hours.list.children].map((r) => ({
        day_of_week: value(r, 'day_of_week'), start_time: value(r, 'start_time'), end_time: value(r, 'end_time'),
      })),
      retry: {
        max_attempts: number(attempts),
        retry_on: retryOn.filter((c) => c.checked).map((c) => c.value),
        rules: [...rules.list.children].map((r) => ({
          day_of_week: value(r, 'day_of_week'), start_time: value(r, 'start_time'), end_time: value(r, 'end_time'),
          retry_interval_minutes: Number(value(r, 'retry_interval_minutes')),
        })),
      },
      max_concurrent: number(lines),
      one_off_share_percent: number(share) ?? 0,
      max_calls_per_second: number(cps),
      max_calls_per_minute: number(cpm),
      caller_id: callerId.value.trim() || null,
      provider: provider.value.trim(),
      ring_timeout_secs: number(ring),
    };
    let saved;
    if (campaign) {
      // A merge patch: `null` removes an optional setting that was emptied.
      saved = await patch(`/campaigns/${id}`, { name: name.value, description: description.value, is_active: active.checked, settings });
    } else {
      for (const k of ['max_calls_per_second', 'max_calls_per_minute', 'caller_id']) if (settings[k] === null) delete settings[k];
      // No rule given: the engine's default retry rules apply.
      if (settings.retry.rules.length === 0) delete settings.retry.rules;
      saved = await post('/campaigns', { name: name.value, description: description.value, settings });
    }
    toast(campaign ? 'Campaign saved' : 'Campaign created');
    window.location.hash = `#/campaigns/${saved.id}`;
  });
  fill(main, h('h1', {}, campaign ? `Edit ${campaign.name}` : 'New campaign'), form);
  name.focus();
}
