// A callback storm: the provider's PUT /api/v1/callback/ for calls in flight. The setup places
// calls through a provider that accepts dials and reports nothing (CALLBACK_PROVIDER, default
// `loadsim`: dialer-provider-sim --mode accept, as in bench/api/dialer.yaml), waits until every
// one is dialing, then each iteration plays one call's provider: RINGING, IN_PROGRESS, PICKED.
//
//   k6 run -e TOKEN=… -e PROVIDER_TOKEN=… loadtest/k6/callbacks.js
//   RATE (calls/s, three callbacks each; default 700), DURATION (default 60s), P99_MS (default 10)
import http from 'k6/http';
import exec from 'k6/execution';
import { API, PROVIDER_TOKEN, headers, thresholds, ok } from './lib.js';
import { dialingCalls, durationSecs } from './setup.js';

const RATE = Number(__ENV.RATE || 700);

export const options = {
  setupTimeout: '600s',
  scenarios: {
    callbacks: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '60s',
      preAllocatedVUs: Math.max(10, Math.ceil(RATE / 10)),
      maxVUs: Math.max(50, Math.ceil(RATE / 2)),
    },
  },
  thresholds: thresholds({ callback: Number(__ENV.P99_MS || 10) }),
};

export function setup() {
  return { calls: dialingCalls(Math.ceil(RATE * durationSecs() * 1.05)) };
}

export default function (data) {
  const call = data.calls[exec.scenario.iterationInTest % data.calls.length];
  for (const [status, duration] of [['RINGING', null], ['IN_PROGRESS', null], ['PICKED', 42]]) {
    const body = JSON.stringify({ call_id: call, status, call_duration: duration });
    const r = http.put(`${API}/callback/`, body, Object.assign(headers(PROVIDER_TOKEN), { tags: { name: 'callback' } }));
    ok(r, `callback ${status}`, 200);
  }
}
