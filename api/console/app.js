// The console's entry point: sign-in and the hash router (#/campaigns, #/calls/…). Each page is
// a function of (main, params, signal); `signal` aborts when the operator leaves the page, which
// ends its live streams and timers.

import { session, remember, forget, get, ApiError } from './api.js';
import { h, fill, field, submitting, failure, here } from './ui.js';
import { campaignsPage } from './campaigns.js';
import { campaignPage } from './campaign.js';
import { campaignForm } from './form.js';
import { callsPage, callPage, schedulePage, explainPage } from './calls.js';
import { dncPage } from './dnc.js';
import { recipientsPage, segmentsPage, templatesPage } from './messaging.js';
import { inboxPage } from './inbox.js';

const routes = [
  [/^campaigns$/, 'campaigns', campaignsPage],
  [/^campaigns\/new$/, 'campaigns', (m, p, s) => campaignForm(m, null, s)],
  [/^campaigns\/(\d+)\/edit$/, 'campaigns', (m, p, s) => campaignForm(m, p[0], s)],
  [/^campaigns\/(\d+)$/, 'campaigns', (m, p, s) => campaignPage(m, p[0], s)],
  [/^calls$/, 'calls', callsPage],
  [/^calls\/new$/, 'calls', schedulePage],
  [/^calls\/([0-9a-f-]{36})$/i, 'calls', (m, p, s) => callPage(m, p[0], s)],
  [/^dnc$/, 'dnc', dncPage],
  [/^explain$/, 'explain', explainPage],
  [/^recipients$/, 'recipients', recipientsPage],
  [/^segments$/, 'segments', segmentsPage],
  [/^templates$/, 'templates', templatesPage],
  [/^inbox$/, 'inbox', inboxPage],
];

let leaving = new AbortController();

async function render() {
  leaving.abort();
  leaving = new AbortController();
  const main = document.getElementById('main');
  if (!session.token) return signIn(main);
  if (!session.me) {
    try {
      session.me = await get('/me');
    } catch (err) {
      if (!session.token) return signIn(main);
      return failure(main, err);
    }
  }
  showChrome();
  const { path } = here();
  const route = routes.find(([re]) => re.test(path));
  if (!route) {
    window.location.replace('#/campaigns');
    return;
  }
  const [re, section, page] = route;
  document.querySelectorAll('#nav a').forEach((a) => {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  fill(main, h('p', { class: 'muted' }, 'Loading…'));
  try {
    await page(main, path.match(re).slice(1), leaving.signal);
  } catch (err) {
    if (!leaving.signal.aborted) failure(main, err);
  }
}

function showChrome() {
  document.getElementById('nav').hidden = false;
  document.getElementById('who').hidden = false;
  fill(document.getElementById('who-name'), `${session.me.name} (${session.me.role})`);
}

function signIn(main) {
  document.getElementById('nav').hidden = true;
  document.getElementById('who').hidden = true;
  document.title = 'Sign in — dialer console';
  const token = h('input', { type: 'password', autocomplete: 'current-password', required: true, spellcheck: 'false' });
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    h('p', { class: 'muted' }, 'Paste an API token (one of the tokens in the engine\'s configuration, or the generated admin token in its data directory).'),
    field('Token', 'token', token),
    h('button', { type: 'submit' }, 'Sign in'));
  submitting(form, async () => {
    remember(token.value.trim());
    try {
      const me = await get('/me');
      if (me.role === 'provider') {
        forget();
        throw Object.assign(new ApiError(403, null), { field: 'token', message: 'This token is a provider\'s: sign in with a viewer, operator or admin token.' });
      }
      session.me = me;
    } catch (err) {
      forget();
      if (err.status === 401) err.message = 'No such token.';
      err.field = 'token';
      throw err;
    }
    if (!here().path || here().path === 'signin') window.location.hash = '#/campaigns';
    else render();
  });
  fill(main, form);
  token.focus();
}

session.onSignedOut = () => render();

document.getElementById('sign-out').addEventListener('click', () => {
  forget();
  window.location.hash = '#/campaigns';
  render();
});

window.addEventListener('hashchange', () => {
  render();
  document.getElementById('main').focus({ preventScroll: true });
});

render();
