// Shared by the k6 scenarios: where dialer is, its token, the numbers, thresholds.
//
//   BASE_URL        dialer's address (default http://127.0.0.1:8080)
//   TOKEN           an admin or operator token (required)
//   PROVIDER_TOKEN  a provider token for callbacks (default: TOKEN)
//   SMOKE=1         a short correctness run: thresholds on errors only, never on latency
import http from 'k6/http';
import { check, fail } from 'k6';

export const BASE = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
export const API = `${BASE}/api/v1`;
export const TOKEN = __ENV.TOKEN || '';
export const PROVIDER_TOKEN = __ENV.PROVIDER_TOKEN || TOKEN;
export const SMOKE = __ENV.SMOKE === '1';

if (!TOKEN) {
  fail('set TOKEN to an admin or operator token of the dialer under test');
}

export function headers(token = TOKEN) {
  return { headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' } };
}

// Thresholds: errors always; latency (p99 of the tagged requests) unless SMOKE.
export function thresholds(latency) {
  const t = {
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
    // A run that did nothing fails too.
    iterations: ['count>0'],
  };
  if (!SMOKE) {
    for (const [name, p99] of Object.entries(latency)) {
      t[`http_req_duration{name:${name}}`] = [`p(99)<${p99}`];
    }
  }
  return t;
}

// The n-th distinct valid North American number (eight area codes, seven digits each).
const AREAS = [212, 213, 310, 312, 415, 617, 646, 718];
export function number(n) {
  const area = AREAS[n % AREAS.length];
  const rest = 2000000 + (Math.floor(n / AREAS.length) % 7000000);
  return `+1${area}${rest}`;
}

// A run's offset into the numbers, so that runs a few minutes apart do not repeat numbers
// within the duplicate window.
export function runOffset() {
  return Math.floor(Date.now() / 1000) % 100000 * 50;
}

export function createCampaign(name, settings) {
  const r = http.post(`${API}/campaigns/`, JSON.stringify({ name, settings }), headers());
  if (r.status !== 201) {
    fail(`creating a campaign: ${r.status} ${r.body}`);
  }
  return r.json('id');
}

// Settings that dial around the clock (calling hours in UTC, all day).
export function allDay(extra) {
  return Object.assign(
    {
      zone_policy: 'campaign',
      time_zone: 'UTC',
      calling_hours: [{ day_of_week: 'daily', start_time: '00:00', end_time: '24:00' }],
    },
    extra,
  );
}

export function ok(r, name, status) {
  return check(r, { [`${name} ${status}`]: (x) => x.status === status });
}
