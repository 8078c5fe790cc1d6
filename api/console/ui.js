// Small DOM helpers. Text always goes in as text (never as HTML): campaign names, numbers and
// provider details come from outside.

/** `h('a', {href: '#/x', class: 'y', onclick: f}, 'text', child…)` */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    else if (k === 'style') Object.assign(el.style, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The operator's time zone, as the browser knows it. */
export const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** A local time in another zone, e.g. the recipient's. */
export function whenIn(iso, timeZone) {
  return new Date(iso).toLocaleString(undefined, {
    weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone, timeZoneName: 'short',
  });
}

export const count = (n) => (n ?? 0).toLocaleString();
export const percent = (x) => `${((x ?? 0) * 100).toFixed(1)}%`;

export function badge(text, cls = text) {
  return h('span', { class: `badge ${cls}` }, text);
}

export function toast(message, bad = false) {
  const box = document.getElementById('toasts');
  const t = h('div', { class: bad ? 'toast bad' : 'toast' }, message);
  box.append(t);
  setTimeout(() => t.remove(), bad ? 8000 : 4000);
}

/** A labelled input: `field('Name', 'name', h('input', …), 'hint')`. */
export function field(label, name, control, hint) {
  const id = `f-${name.replace(/[^a-z0-9]+/gi, '-')}-${Math.random().toString(36).slice(2, 7)}`;
  control.id = id;
  control.dataset.field = name;
  const errorId = `${id}-error`;
  control.setAttribute('aria-describedby', errorId);
  return h('div', { class: 'field' },
    h('label', { for: id }, label, hint ? h('span', { class: 'hint' }, ` — ${hint}`) : null),
    control,
    h('div', { class: 'error', id: errorId }));
}

export function clearErrors(form) {
  form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
  form.querySelectorAll('.error').forEach((el) => fill(el));
  form.querySelectorAll('.form-error').forEach((el) => el.remove());
}

/** Shows an API error at the field it names: the exact field, else the closest enclosing one
 * (`settings.calling_hours[0].end_time` → `settings.calling_hours[0]` → …), else atop the form. */
export function showError(form, err) {
  clearErrors(form);
  let name = err.field;
  let target = null;
  while (name && !target) {
    target = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (!target) {
      const cut = Math.max(name.lastIndexOf('.'), name.lastIndexOf('['));
      name = cut > 0 ? name.slice(0, cut) : null;
    }
  }
  if (target) {
    target.setAttribute('aria-invalid', 'true');
    const box = document.getElementById(target.getAttribute('aria-describedby'));
    // Shown at its own field, the message need not name the field again; at an enclosing one
    // (a rule, a window) the path says where inside it.
    const prefix = `${err.field}: `;
    const own = name === err.field && err.message.startsWith(prefix);
    if (box) fill(box, own ? err.message.slice(prefix.length) : err.message);
    target.focus();
  } else {
    form.prepend(h('p', { class: 'form-error', role: 'alert' }, err.message));
  }
}

/** Runs `action` for a form's submit, disabling its buttons meanwhile. */
export function submitting(form, action) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const buttons = [...form.querySelectorAll('button')];
    buttons.forEach((b) => { b.disabled = true; });
    clearErrors(form);
    try {
      await action(e.submitter);
    } catch (err) {
      showError(form, err);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  return form;
}

/** A page's failure to load, shown in place of its content. */
export function failure(main, err) {
  fill(main, h('h1', {}, 'Something went wrong'), h('p', { class: 'form-error', role: 'alert' }, err.message));
}

/** A table whose cells carry their column's name, for the phone-sized layout. */
export function table(columns, rows, caption) {
  // A table wider than its box scrolls: the keyboard must reach it too (a named region).
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption ?? 'Table' },
    h('table', { class: 'responsive' },
      caption ? h('caption', { class: 'visually-hidden' }, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) =>
        h('td', { 'data-label': c.label, class: c.num ? 'num' : null }, c.cell(r))))))));
}

export function stat(label, value, testid) {
  return h('div', { class: 'stat', 'data-stat': testid },
    h('div', { class: 'value' }, value), h('div', { class: 'label' }, label));
}

/** The part of the hash after `#/`, and its query parameters. */
export function here() {
  const raw = window.location.hash.replace(/^#\/?/, '');
  const [path, q = ''] = raw.split('?');
  return { path, params: new URLSearchParams(q) };
}
