// Messaging: recipients (with consent and topics), segments (a rule, with a count of who it
// selects) and templates (with a preview rendered for a recipient).

import { get, post, can, query, api } from './api.js';
import { h, fill, when, table, toast, field, submitting, badge } from './ui.js';
import { uploader } from './campaign.js';

/** Reads a JSON textarea, naming the field when it is not JSON. */
function json(control, name, fallback) {
  const text = control.value.trim();
  if (!text) return fallback;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw Object.assign(new Error(`not JSON: ${e.message}`), { field: name });
  }
}

const attributes = (r) => Object.entries(r.attributes).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ') || '—';

export async function recipientsPage(main, params, signal) {
  document.title = 'Recipients — dialer console';
  const list = h('div');
  const more = h('div');
  const rows = [];
  async function load(after) {
    if (!after) rows.length = 0;
    const page = await get(`/recipients${query({ limit: 50, after })}`);
    if (signal.aborted) return;
    rows.push(...page.results);
    fill(list, rows.length ? table([
      { label: 'Number', cell: (r) => r.phone_number },
      { label: 'Consent', cell: (r) => badge(r.consent) },
      { label: 'Attributes', cell: attributes },
      { label: 'Updated', cell: (r) => when(r.updated_at) },
    ], rows, 'Recipients') : h('p', { class: 'muted' }, 'No recipient yet.'));
    fill(more, page.next_cursor ? h('button', { type: 'button', class: 'secondary', onclick: () => load(page.next_cursor) }, 'More') : null);
  }
  let forms = null;
  if (can('write')) {
    const number = h('input', { type: 'tel', required: true, placeholder: '+14155552671' });
    const attrs = h('textarea', { rows: 2, placeholder: '{"first_name": "Ada", "city": "Berlin"}' });
    const consent = h('select', {}, ['', 'opted_in', 'opted_out', 'unknown'].map((c) => h('option', { value: c }, c || 'leave as it is')));
    const add = h('form', { class: 'card' }, h('h2', {}, 'Add or update a recipient'),
      field('Phone number', 'recipients[0].phone_number', number),
      field('Attributes (JSON object, merged key by key)', 'recipients[0].attributes', attrs),
      field('Consent', 'recipients[0].consent', consent),
      h('button', { type: 'submit' }, 'Save recipient'));
    submitting(add, async () => {
      const entry = { phone_number: number.value.trim(), attributes: json(attrs, 'recipients[0].attributes', {}) };
      if (consent.value) entry.consent = consent.value;
      const out = await post('/recipients', { recipients: [entry] });
      if (out.invalid.length) throw Object.assign(new Error(out.invalid[0].reason), { field: 'recipients[0].phone_number' });
      toast(out.added ? 'Recipient added' : 'Recipient updated');
      await load(null);
    });
    const who = h('input', { type: 'tel', required: true, placeholder: '+14155552671' });
    const topic = h('input', { required: true, placeholder: 'price-alerts' });
    const sub = h('form', { class: 'card' }, h('h2', {}, 'Topic subscriptions'),
      h('div', { class: 'row' }, field('Phone number', 'phone_number', who), field('Topic', 'topic', topic)),
      h('div', { class: 'row' }, h('button', { type: 'submit', value: 'subscribe' }, 'Subscribe'),
        h('button', { type: 'submit', value: 'unsubscribe', class: 'secondary' }, 'Unsubscribe')));
    submitting(sub, async (submitter) => {
      const action = submitter?.value === 'unsubscribe' ? 'unsubscribe' : 'subscribe';
      const out = await post(`/recipients/${encodeURIComponent(who.value.trim())}/${action}`, { topic: topic.value.trim() });
      toast(out.changed ? `${action}d to ${out.topic}` : `nothing to change for ${out.topic}`);
      await load(null);
    });
    const file = uploader('/recipients/import', 'Upload recipients',
      'CSV with a phone_number column (a consent column — opted_in, opted_out, unknown — sets the consent; the other columns become attributes), a JSON array of objects, or JSON lines.',
      () => load(null));
    forms = [file, add, sub];
  }
  fill(main, h('h1', {}, 'Recipients'), forms, h('h2', {}, 'Everyone'), list, more);
  await load(null);
}

export async function segmentsPage(main, params, signal) {
  document.title = 'Segments — dialer console';
  const list = h('div');
  const previewed = h('div', { 'aria-live': 'polite' });
  async function preview(name) {
    const p = await get(`/segments/${encodeURIComponent(name)}/preview?sample=5`);
    fill(previewed, h('div', { class: 'card', dataset: { preview: name } },
      h('h2', {}, `${name}: `, h('span', { dataset: { count: p.count } }, `${p.count} of ${p.of} recipients`)),
      p.sample.length ? table([
        { label: 'Number', cell: (r) => r.phone_number }, { label: 'Consent', cell: (r) => r.consent },
        { label: 'Attributes', cell: attributes },
      ], p.sample, 'Sample') : null));
  }
  async function load() {
    const all = await get('/segments');
    if (signal.aborted) return;
    fill(list, all.length ? table([
      { label: 'Name', cell: (g) => g.name },
      { label: 'Description', cell: (g) => g.description || '—' },
      { label: 'Rule', cell: (g) => h('code', {}, JSON.stringify(g.rule)) },
      { label: 'Actions', cell: (g) => h('button', { type: 'button', class: 'secondary', onclick: () => preview(g.name).catch((e) => toast(e.message, true)) }, `Count ${g.name}`) },
    ], all, 'Segments') : h('p', { class: 'muted' }, 'No segment yet.'));
  }
  let form = null;
  if (can('write')) {
    const name = h('input', { required: true, placeholder: 'gold-alerts' });
    const description = h('input', {});
    const rule = h('textarea', { rows: 6, required: true, placeholder: '{"all": [{"subscribed": "price-alerts"}, {"consent": "opted_in"}]}' });
    form = h('form', { class: 'card' }, h('h2', {}, 'Create or replace a segment'),
      field('Name', 'name', name), field('Description', 'description', description),
      field('Rule (JSON; see the README for the language)', 'rule', rule),
      h('button', { type: 'submit' }, 'Save segment'));
    submitting(form, async () => {
      const body = { rule: json(rule, 'rule', null), description: description.value };
      const saved = await api('PUT', `/segments/${encodeURIComponent(name.value.trim())}`, body);
      toast(`Segment ${saved.name} saved`);
      await load();
      await preview(saved.name);
    });
  }
  fill(main, h('h1', {}, 'Segments'), form, previewed, h('h2', {}, 'All segments'), list);
  await load();
}

export async function templatesPage(main, params, signal) {
  document.title = 'Templates — dialer console';
  const list = h('div');
  const rendered = h('div', { 'aria-live': 'polite' });
  const path = (t) => `/templates/${encodeURIComponent(t.name)}/${t.channel}/${encodeURIComponent(t.locale)}`;
  const number = h('input', { type: 'tel', placeholder: '+14155552671' });
  const event = h('textarea', { rows: 2, placeholder: '{"product": "kettle", "price": 19.5}' });
  const previewForm = h('form', { class: 'card' }, h('h2', {}, 'Preview with'),
    h('div', { class: 'row' }, field('Recipient', 'phone_number', number), field('Event fields (JSON)', 'event', event)));
  async function preview(t) {
    const body = {};
    if (number.value.trim()) body.phone_number = number.value.trim();
    const e = json(event, 'event', null);
    if (e) body.event = e;
    const out = await post(`${path(t)}/preview`, body);
    fill(rendered, h('div', { class: 'card', dataset: { rendered: t.name } },
      h('h2', {}, `${t.name} (${t.channel}, ${t.locale})`),
      out.text !== null ? h('p', { class: 'ok', dataset: { text: '' } }, out.text)
        : h('p', { class: 'bad', dataset: { missing: '' } }, `Not sent — no value for ${out.missing.map((m) => `{${m}}`).join(', ')}`)));
  }
  async function load() {
    const all = await get('/templates');
    if (signal.aborted) return;
    fill(list, all.length ? table([
      { label: 'Name', cell: (t) => t.name }, { label: 'Channel', cell: (t) => t.channel },
      { label: 'Locale', cell: (t) => t.locale }, { label: 'Text', cell: (t) => t.text },
      { label: 'Actions', cell: (t) => h('button', { type: 'button', class: 'secondary', onclick: () => preview(t).catch((err) => toast(err.message, true)) }, `Preview ${t.name}`) },
    ], all, 'Templates') : h('p', { class: 'muted' }, 'No template yet.'));
  }
  let form = null;
  if (can('write')) {
    const name = h('input', { required: true, placeholder: 'price-drop' });
    const channel = h('select', {}, ['sms', 'whatsapp', 'voice'].map((c) => h('option', { value: c }, c)));
    const locale = h('input', { required: true, value: 'en' });
    const text = h('textarea', { rows: 3, required: true, placeholder: 'Hi {first_name}, {event.product} is now {event.price}' });
    form = h('form', { class: 'card' }, h('h2', {}, 'Create or replace a template'),
      h('div', { class: 'row' }, field('Name', 'name', name), field('Channel', 'channel', channel), field('Locale', 'locale', locale)),
      field('Text', 'text', text),
      h('button', { type: 'submit' }, 'Save template'));
    submitting(form, async () => {
      const t = { name: name.value.trim(), channel: channel.value, locale: locale.value.trim() };
      await api('PUT', path(t), { text: text.value });
      toast(`Template ${t.name} saved`);
      await load();
    });
  }
  fill(main, h('h1', {}, 'Templates'), form, previewForm, rendered, h('h2', {}, 'All templates'), list);
  await load();
}
