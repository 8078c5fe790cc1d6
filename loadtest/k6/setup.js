// Setup steps shared by the callback storm and the mix: calls placed and dialing.
import http from 'k6/http';
import { sleep, fail } from 'k6';
import { API, headers, number, runOffset, createCampaign, allDay } from './lib.js';

export function durationSecs() {
  const d = __ENV.DURATION || '60s';
  const m = /^(\d+)(ms|s|m|h)$/.exec(d);
  if (!m) {
    fail(`DURATION: cannot read ${d} (say 10s, 5m, 1h)`);
  }
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[m[2]];
}

// Places `count` calls through CALLBACK_PROVIDER and waits until each is dialing; their ids.
export function dialingCalls(count) {
  const provider = __ENV.CALLBACK_PROVIDER || 'loadsim';
  const campaign = createCampaign('k6 callbacks', allDay({ max_concurrent: Math.max(count, 1), provider }));
  const offset = runOffset() + 6000000;
  for (let start = 0; start < count; start += 5000) {
    const numbers = [];
    for (let k = start; k < Math.min(count, start + 5000); k++) {
      numbers.push(number(offset + k));
    }
    const r = http.post(`${API}/initiate-call/bulk`, JSON.stringify({ campaign_id: campaign, phone_numbers: numbers }), headers());
    if ((r.status !== 200 && r.status !== 201) || (r.json('rejected') || []).length > 0) {
      fail(`placing the setup's calls: ${r.status} ${r.body.slice(0, 300)}`);
    }
  }
  for (let waited = 0; ; waited++) {
    const q = http.get(`${API}/calls?campaign_id=${campaign}&status=INITIATED&limit=1`, headers());
    if (q.status === 200 && q.json('results').length === 0) {
      break;
    }
    if (waited > 1200) {
      fail(`calls still queued after 10 minutes: is ${provider} accepting dials?`);
    }
    sleep(0.5);
  }
  const ids = [];
  let cursor = null;
  for (;;) {
    const page = http.get(`${API}/calls?campaign_id=${campaign}&status=DIALING&limit=500${cursor ? `&cursor=${cursor}` : ''}`, headers());
    for (const c of page.json('results')) {
      ids.push(c.call_id);
    }
    cursor = page.json('next_cursor');
    if (!cursor) {
      break;
    }
  }
  if (ids.length < count) {
    fail(`only ${ids.length} of ${count} calls are dialing`);
  }
  return ids;
}
