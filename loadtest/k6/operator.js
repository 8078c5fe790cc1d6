// The operator's flow: create a campaign, import its contacts (CSV), start it, watch its
// statistics and calls, pause and resume it. Each iteration is one operator's session.
//
//   k6 run -e TOKEN=… loadtest/k6/operator.js
//   RATE (sessions/s, default 5), DURATION (default 60s), CONTACTS per campaign (default 200)
import http from 'k6/http';
import exec from 'k6/execution';
import { API, headers, thresholds, number, runOffset, allDay, ok } from './lib.js';

const RATE = Number(__ENV.RATE || 5);
const CONTACTS = Number(__ENV.CONTACTS || 200);

export const options = {
  scenarios: {
    operator: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '60s',
      preAllocatedVUs: Math.max(4, RATE * 2),
      maxVUs: Math.max(20, RATE * 10),
    },
  },
  thresholds: thresholds({
    create_campaign: 50,
    import: 500,
    lifecycle: 50,
    stats: 100,
    calls: 100,
  }),
};

export function setup() {
  return { offset: runOffset() + 3000000 };
}

export default function (data) {
  const i = exec.scenario.iterationInTest;
  const settings = allDay({ max_concurrent: 10, provider: __ENV.DIAL_PROVIDER || 'sim' });
  let r = http.post(`${API}/campaigns/`, JSON.stringify({ name: `k6 operator ${i}`, settings }), Object.assign(headers(), { tags: { name: 'create_campaign' } }));
  if (!ok(r, 'create campaign', 201)) {
    return;
  }
  const id = r.json('id');
  let csv = 'phone_number,first_name\n';
  for (let k = 0; k < CONTACTS; k++) {
    csv += `${number(data.offset + i * CONTACTS + k)},k6\n`;
  }
  r = http.post(`${API}/campaigns/${id}/contacts/import`, csv, {
    headers: { 'X-Auth-Token': headers().headers['X-Auth-Token'], 'Content-Type': 'text/csv' },
    tags: { name: 'import' },
  });
  ok(r, 'import', 200);
  r = http.post(`${API}/campaigns/${id}/start`, null, Object.assign(headers(), { tags: { name: 'lifecycle' } }));
  ok(r, 'start', 200);
  for (let k = 0; k < 3; k++) {
    r = http.get(`${API}/campaigns/${id}/stats`, Object.assign(headers(), { tags: { name: 'stats' } }));
    ok(r, 'stats', 200);
  }
  r = http.get(`${API}/calls?campaign_id=${id}&limit=50`, Object.assign(headers(), { tags: { name: 'calls' } }));
  ok(r, 'calls', 200);
  r = http.post(`${API}/campaigns/${id}/pause`, null, Object.assign(headers(), { tags: { name: 'lifecycle' } }));
  ok(r, 'pause', 200);
  r = http.post(`${API}/campaigns/${id}/resume`, null, Object.assign(headers(), { tags: { name: 'lifecycle' } }));
  ok(r, 'resume', 200);
}
