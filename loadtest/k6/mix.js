// The mix a busy node sees at once: initiate-calls, provider callbacks for calls in flight,
// and operators reading statistics and call lists — each at its own rate.
//
//   k6 run -e TOKEN=… -e PROVIDER_TOKEN=… loadtest/k6/mix.js
//   INITIATE_RATE (default 300/s), CALLBACK_RATE (calls/s, three callbacks each; default 300),
//   READ_RATE (default 20/s), DURATION (default 60s), P99_MS (default 25)
import http from 'k6/http';
import exec from 'k6/execution';
import { API, PROVIDER_TOKEN, headers, thresholds, number, runOffset, createCampaign, allDay, ok } from './lib.js';
import { dialingCalls, durationSecs } from './setup.js';

const INITIATE = Number(__ENV.INITIATE_RATE || 300);
const CALLBACKS = Number(__ENV.CALLBACK_RATE || 300);
const READS = Number(__ENV.READ_RATE || 20);
const DURATION = __ENV.DURATION || '60s';
const P99 = Number(__ENV.P99_MS || 25);

function rate(r, fn) {
  return {
    executor: 'constant-arrival-rate',
    exec: fn,
    rate: r,
    timeUnit: '1s',
    duration: DURATION,
    preAllocatedVUs: Math.max(5, Math.ceil(r / 10)),
    maxVUs: Math.max(20, Math.ceil(r / 2)),
  };
}

export const options = {
  setupTimeout: '600s',
  scenarios: {
    initiate: rate(INITIATE, 'initiate'),
    callbacks: rate(CALLBACKS, 'callbacks'),
    reads: rate(READS, 'reads'),
  },
  thresholds: thresholds({ initiate: P99, callback: P99, stats: P99 * 4, calls: P99 * 4 }),
};

export function setup() {
  const campaign = createCampaign('k6 mix', allDay({ max_concurrent: 100, provider: __ENV.DIAL_PROVIDER || 'sim' }));
  return {
    campaign,
    offset: runOffset() + 9000000,
    calls: dialingCalls(Math.ceil(CALLBACKS * durationSecs() * 1.05)),
  };
}

export function initiate(data) {
  const body = JSON.stringify({ phone_number: number(data.offset + exec.scenario.iterationInTest), campaign_id: data.campaign });
  ok(http.post(`${API}/initiate-call/`, body, Object.assign(headers(), { tags: { name: 'initiate' } })), 'initiate-call', 201);
}

export function callbacks(data) {
  const call = data.calls[exec.scenario.iterationInTest % data.calls.length];
  for (const [status, duration] of [['RINGING', null], ['IN_PROGRESS', null], ['PICKED', 42]]) {
    const body = JSON.stringify({ call_id: call, status, call_duration: duration });
    ok(http.put(`${API}/callback/`, body, Object.assign(headers(PROVIDER_TOKEN), { tags: { name: 'callback' } })), `callback ${status}`, 200);
  }
}

export function reads(data) {
  ok(http.get(`${API}/campaigns/${data.campaign}/stats`, Object.assign(headers(), { tags: { name: 'stats' } })), 'stats', 200);
  ok(http.get(`${API}/calls?campaign_id=${data.campaign}&limit=50`, Object.assign(headers(), { tags: { name: 'calls' } })), 'calls', 200);
}
