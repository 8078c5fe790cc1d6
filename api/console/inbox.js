// The inbox: messages recipients sent (commands and free text), newest first, each as it was
// read; an operator replies through a messaging campaign (refused when the recipient has not
// consented).

import { get, post, can, query } from './api.js';
import { h, fill, when, table, toast, field, submitting, badge } from './ui.js';

export async function inboxPage(main, params, signal) {
  document.title = 'Inbox — dialer console';
  const list = h('div');
  const more = h('div');
  const rows = [];
  let campaigns = [];
  if (can('write')) {
    const all = await get(`/campaigns${query({ limit: 1000 })}`);
    campaigns = all.filter((c) => c.settings.channel === 'sms' || c.settings.channel === 'whatsapp');
  }
  const to = h('input', { type: 'tel', required: true, placeholder: '+14155552671' });
  const campaign = h('select', { required: true }, campaigns.map((c) => h('option', { value: c.id }, `${c.name} (${c.settings.channel})`)));
  const body = h('textarea', { rows: 3, required: true, placeholder: 'Thanks — we will call you tomorrow.' });
  const reply = h('form', { class: 'card', id: 'reply' }, h('h2', {}, 'Reply'),
    h('div', { class: 'row' }, field('To', 'phone_number', to), field('Through campaign', 'campaign_id', campaign)),
    field('Message', 'body', body),
    h('button', { type: 'submit' }, 'Send reply'));
  submitting(reply, async () => {
    const m = await post(`/recipients/${encodeURIComponent(to.value.trim())}/reply`, { campaign_id: Number(campaign.value), body: body.value });
    toast(`Reply queued (${m.status})`);
    body.value = '';
  });
  const answer = (e) => {
    to.value = e.normalized.from;
    reply.scrollIntoView({ block: 'nearest' });
    body.focus();
  };
  async function load(before) {
    if (!before) rows.length = 0;
    const page = await get(`/message-events${query({ kind: 'inbound', limit: 50, before })}`);
    if (signal.aborted) return;
    rows.push(...page);
    const columns = [
      { label: 'Received', cell: (e) => when(e.at) },
      { label: 'From', cell: (e) => e.normalized.from },
      { label: 'Message', cell: (e) => e.normalized.body },
      { label: 'Read as', cell: (e) => badge(e.normalized.command) },
    ];
    if (campaigns.length) {
      columns.push({ label: 'Reply', cell: (e) => h('button', { type: 'button', class: 'secondary', onclick: () => answer(e) }, 'Reply') });
    }
    fill(list, rows.length ? table(columns, rows, 'Inbound messages') : h('p', { class: 'muted' }, 'No inbound message yet.'));
    fill(more, page.length === 50 ? h('button', { type: 'button', class: 'secondary', onclick: () => load(page[page.length - 1].event_id) }, 'Older') : null);
  }
  const replying = campaigns.length ? reply
    : can('write') ? h('p', { class: 'muted' }, 'Create an sms or whatsapp campaign to reply through.') : null;
  fill(main, h('h1', {}, 'Inbox'), replying, h('h2', {}, 'Inbound messages'), list, more);
  await load(null);
}
