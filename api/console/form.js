// Creating and editing a campaign: its channel (calls, SMS or WhatsApp), calling hours (quiet
// hours for messages), retry rules, lines, rate and caller ID, and a messaging campaign's
// template, audience, consent rule, rates and retries. The engine checks every rule; its answer
// names the field, and the error is shown there.

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

/** A messaging campaign's settings: template, audience, consent, rates and retries. */
function messagingFields(m) {
  const input = (attrs) => h('input', attrs);
  const audience = h('select', {},
    h('option', { value: '' }, 'no one (trigger events only)'),
    h('option', { value: 'segment' }, 'a segment'),
    h('option', { value: 'topic' }, 'a topic\'s subscribers'));
  audience.value = m.segment ? 'segment' : m.topic ? 'topic' : '';
  const c = {
    template: input({ value: m.template ?? '', required: true, placeholder: 'reminder' }),
    locale: input({ value: m.locale ?? 'en', placeholder: 'en' }),
    audience,
    target: input({ value: m.segment ?? m.topic ?? '', placeholder: 'segment or topic name' }),
    optIn: input({ type: 'checkbox', checked: m.require_opt_in ?? false }),
    rate: input({ type: 'number', min: 1, value: m.max_messages_per_second ?? '' }),
    perSender: input({ type: 'number', min: 1, value: m.max_messages_per_second_per_sender ?? '' }),
    attempts: input({ type: 'number', min: 1, value: m.max_attempts ?? 3 }),
    retryAfter: input({ type: 'number', min: 1, value: m.retry_after_secs ?? 300 }),
  };
  const element = h('fieldset', {}, h('legend', {}, 'Messages'),
    h('div', { class: 'grid' },
      field('Template', 'settings.messaging.template', c.template, 'of the campaign\'s channel'),
      field('Locale', 'settings.messaging.locale', c.locale),
      field('Starting it sends to', 'settings.messaging.audience', c.audience),
      field('Segment or topic', c.audience.value === 'topic' ? 'settings.messaging.topic' : 'settings.messaging.segment', c.target),
      field('Messages per second', 'settings.messaging.max_messages_per_second', c.rate, 'empty: no limit'),
      field('Per sender number', 'settings.messaging.max_messages_per_second_per_sender', c.perSender, 'empty: no limit'),
      field('Attempts at most', 'settings.messaging.max_attempts', c.attempts, 'for retryable error codes'),
      field('Retry after (s)', 'settings.messaging.retry_after_secs', c.retryAfter)),
    h('div', { class: 'field' }, h('label', {}, c.optIn, ' Only recipients who opted in (WhatsApp\'s rule)')),
    h('p', { class: 'small muted' }, 'Calling hours below are the quiet hours: nothing is sent outside them, in the recipient\'s local time.'));
  // The error of the audience's name shows at the name, whichever it is.
  audience.addEventListener('change', () => {
    c.target.dataset.field = audience.value === 'topic' ? 'settings.messaging.topic' : 'settings.messaging.segment';
  });
  const read = () => {
    const target = c.target.value.trim();
    const out = {
      template: c.template.value.trim(),
      locale: c.locale.value.trim() || 'en',
      require_opt_in: c.optIn.checked,
      max_attempts: number(c.attempts),
      retry_after_secs: number(c.retryAfter),
    };
    if (c.audience.value && target) out[c.audience.value] = target;
    if (number(c.rate) !== null) out.max_messages_per_second = number(c.rate);
    if (number(c.perSender) !== null) out.max_messages_per_second_per_sender = number(c.perSender);
    return out;
  };
  return { element, read };
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
  const channel = h('select', {},
    h('option', { value: 'voice' }, 'Calls'),
    h('option', { value: 'sms' }, 'SMS'),
    h('option', { value: 'whatsapp' }, 'WhatsApp'));
  channel.value = defaults.channel ?? 'voice';
  // The channel is chosen once: an existing campaign keeps its own.
  channel.disabled = Boolean(campaign);
  const messaging = messagingFields(defaults.messaging ?? {});
  const voiceOnly = [];
  const voice = (el) => { voiceOnly.push(el); return el; };

  const form = h('form', { class: 'card', novalidate: true },
    zonesList(), daysList(),
    field('Name', 'name', name),
    field('Description', 'description', description),
    campaign ? h('div', { class: 'field' }, h('label', {}, active, ' Active (takes calls)')) : null,
    field('Channel', 'settings.channel', channel, campaign ? 'chosen when the campaign was created' : null),
    messaging.element,
    h('fieldset', {}, h('legend', {}, 'Calling hours'),
      h('div', { class: 'grid' },
        field('Time zone', 'settings.time_zone', zone, 'IANA name'),
        field('Hours are read in', 'settings.zone_policy', policy)),
      hours.element),
    voice(h('fieldset', { dataset: { field: 'settings.retry' }, tabindex: '-1', 'aria-describedby': 'retry-error' }, h('legend', {}, 'Retry rules'),
      h('div', { class: 'grid' },
        field('Attempts at most', 'settings.retry.max_attempts', attempts),
        h('div', { class: 'field', role: 'group', 'aria-label': 'Retry after' },
          h('span', { class: 'small' }, 'Retry after'),
          retryOn.map((c) => h('label', { class: 'small' }, c, ` ${c.value}`)))),
      h('p', { class: 'small muted' }, 'A retry is due after the interval of the rule whose window (the recipient\'s local time) holds the attempt\'s end.',
        campaign ? null : ' Add none to start from the engine\'s default rules.'),
      rules.element,
      h('div', { class: 'error', id: 'retry-error' }))),
    h('fieldset', {}, h('legend', {}, 'Lines, rate and caller ID'),
      h('div', { class: 'grid' },
        voice(field('Lines', 'settings.max_concurrent', lines, 'simultaneous calls')),
        voice(field('Reserved for one-off calls (%)', 'settings.one_off_share_percent', share)),
        voice(field('Calls per second', 'settings.max_calls_per_second', cps, 'empty: no limit')),
        voice(field('Calls per minute', 'settings.max_calls_per_minute', cpm, 'empty: no limit')),
        field('Caller ID', 'settings.caller_id', callerId, 'empty: the provider\'s (the sender for messages)'),
        field('Provider', 'settings.provider', provider, 'the account that calls or sends'),
        voice(field('Ring timeout (s)', 'settings.ring_timeout_secs', ring)))),
    h('div', { class: 'row' },
      h('button', { type: 'submit' }, campaign ? 'Save' : 'Create campaign'),
      h('a', { href: campaign ? `#/campaigns/${id}` : '#/campaigns', class: 'button secondary' }, 'Cancel')));

  // Calls' own settings are shown for calls only, messages' for messages only.
  const shown = () => {
    const messages = channel.value !== 'voice';
    messaging.element.hidden = !messages;
    voiceOnly.forEach((el) => { el.hidden = messages; });
  };
  channel.addEventListener('change', shown);
  shown();

  submitting(form, async () => {
    const settings = {
      channel: channel.value,
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
    if (channel.value !== 'voice') settings.messaging = messaging.read();
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
