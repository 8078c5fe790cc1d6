// An initiate-call flood: the seed's POST /api/v1/initiate-call/ at a fixed rate, every
// request a new number, into one campaign dialed by the engine's provider (DIAL_PROVIDER,
// default the in-process simulator).
//
//   k6 run -e TOKEN=… loadtest/k6/initiate.js
//   RATE (requests/s, default 1000), DURATION (default 60s), P99_MS (default 10)
import http from 'k6/http';
import exec from 'k6/execution';
import { API, headers, thresholds, number, runOffset, createCampaign, allDay, ok } from './lib.js';

const RATE = Number(__ENV.RATE || 1000);

export const options = {
  scenarios: {
    initiate: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '60s',
      preAllocatedVUs: Math.max(10, Math.ceil(RATE / 20)),
      maxVUs: Math.max(50, Math.ceil(RATE / 4)),
    },
  },
  thresholds: thresholds({ initiate: Number(__ENV.P99_MS || 10) }),
};

export function setup() {
  const campaign = createCampaign('k6 initiate-call', allDay({ max_concurrent: 100, provider: __ENV.DIAL_PROVIDER || 'sim' }));
  return { campaign, offset: runOffset() };
}

export default function (data) {
  const n = data.offset + exec.scenario.iterationInTest;
  const body = JSON.stringify({ phone_number: number(n), campaign_id: data.campaign });
  const r = http.post(`${API}/initiate-call/`, body, Object.assign(headers(), { tags: { name: 'initiate' } }));
  ok(r, 'initiate-call', 201);
}
