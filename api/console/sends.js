// A messaging campaign's page: its messages by state, delivery and read rates, failures by the
// provider's error code and opt-outs (refreshed every few seconds), its latest messages, and a
// trigger event sent from the page.

import { get, postLines, can, query } from './api.js';
import { h, fill, badge, count, percent, when, stat, table, toast, field, submitting } from './ui.js';

const OPEN = ['pending', 'queued', 'sending', 'sent'];

function figures(stats) {
  const by = stats.by_status;
  const open = OPEN.reduce((n, s) => n + (by[s] ?? 0), 0);
  return h('div', { class: 'stats' },
    stat('Messages', count(stats.messages), 'messages'),
    stat('Not final yet', count(open), 'open'),
    stat('Delivered or read', percent(stats.delivered_percent / 100), 'delivered_percent'),
    stat('Read', percent(stats.read_percent / 100), 'read_percent'),
    stat('Failed', count((by.failed ?? 0) + (by.undelivered ?? 0)), 'failed'),
    stat('Blocked', count(by.blocked ?? 0), 'blocked'),
    stat('Opted out', count(stats.opted_out), 'opted_out'));
}

function breakdown(stats) {
  const states = Object.entries(stats.by_status);
  const codes = Object.entries(stats.failures_by_code);
  return h('div', { class: 'grid wide' },
    h('div', { class: 'card' }, h('h2', {}, 'By state'),
      states.length ? table([
        { label: 'State', cell: ([s]) => badge(s) },
        { label: 'Messages', num: true, cell: ([, n]) => count(n) },
      ], states, 'Messages by state') : h('p', { class: 'muted' }, 'No message yet.')),
    h('div', { class: 'card' }, h('h2', {}, 'Failures by error code'),
      codes.length ? table([
        { label: 'Code', cell: ([c]) => c },
        { label: 'Messages', num: true, cell: ([, n]) => count(n) },
      ], codes, 'Failures by error code') : h('p', { class: 'muted' }, 'No failure.')));
}

function latest(list) {
  return h('div', { class: 'card' }, h('h2', {}, 'Latest messages'),
    list.length ? table([
      { label: 'To', cell: (m) => m.phone_number },
      { label: 'State', cell: (m) => badge(m.status) },
      { label: 'Attempts', num: true, cell: (m) => m.attempts },
      { label: 'Why', cell: (m) => [m.error_code, m.reason].filter(Boolean).join(' — ') || '—' },
      { label: 'Text', cell: (m) => m.body },
      { label: 'Updated', cell: (m) => when(m.updated_at) },
    ], list, 'Latest messages') : h('p', { class: 'muted' }, 'No message yet.'));
}

/** A trigger event (one JSON line) sent to the campaign, with what it did. */
function trigger(campaign, after) {
  const text = h('textarea', {
    rows: 3, required: true,
    placeholder: '{"id": "drop-1", "rule": {"subscribed": "price-alerts"}, "fields": {"product": "a kettle"}}',
  });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'card' }, h('h2', {}, 'Send a trigger event'),
    h('p', { class: 'small muted' }, 'One event per line: a segment rule (or a saved segment\'s name) and the fields its template uses. An event sent again sends nothing twice.'),
    field('Events (JSON lines)', 'body', text),
    h('button', { type: 'submit' }, 'Send'),
    out);
  submitting(form, async () => {
    const r = await postLines(`/campaigns/${campaign.id}/trigger-events`, text.value);
    const created = r.events.reduce((n, e) => n + e.created, 0);
    fill(out,
      r.events.map((e) => h('p', { class: 'small' }, `${e.cause ?? 'event'}: ${e.error ?? `${count(e.recipients)} selected, ${count(e.created)} new messages, ${count(e.existing)} sent before, ${count(e.unrenderable)} missing a field`}`)),
      r.errors.map((e) => h('p', { class: 'small form-error' }, `line ${e.line}: ${e.message}`)));
    toast(`${count(created)} messages queued`);
    after();
  });
  return form;
}

/** The live part of a messaging campaign's page; stops when `signal` aborts. */
export function messagingLive(campaign, signal) {
  const live = h('div');
  const recent = h('div');
  const refresh = async () => {
    try {
      const [stats, list] = await Promise.all([
        get(`/campaigns/${campaign.id}/message-stats`),
        get(`/campaigns/${campaign.id}/messages${query({ limit: 20 })}`),
      ]);
      if (signal.aborted) return;
      fill(live, figures(stats), breakdown(stats));
      fill(recent, latest(list));
    } catch (err) {
      if (!signal.aborted) fill(live, h('p', { class: 'form-error', role: 'alert' }, err.message));
    }
  };
  const timer = setInterval(refresh, 3000);
  signal.addEventListener('abort', () => clearInterval(timer));
  refresh();
  return h('div', {},
    h('section', { 'aria-labelledby': 'live-title' },
      h('h2', { id: 'live-title' }, 'Messages'), live),
    can('write') && campaign.state === 'running' ? trigger(campaign, refresh) : null,
    recent);
}
