// The console's one way to the engine: the public API at /api/v1, with the operator's token in
// the X-Auth-Token header (kept in this tab's sessionStorage, never in a URL).

const KEY = 'dialer.token';

export const session = {
  token: sessionStorage.getItem(KEY),
  /** `{name, role}` from GET /api/v1/me once signed in. */
  me: null,
  onSignedOut: () => {},
};

export function remember(token) {
  session.token = token;
  sessionStorage.setItem(KEY, token);
}

export function forget() {
  session.token = null;
  session.me = null;
  sessionStorage.removeItem(KEY);
}

/** What the signed-in role may do: `read`, `write` (operators and admins) or `admin`. */
export function can(action) {
  const role = session.me?.role;
  if (action === 'read') return role === 'viewer' || role === 'operator' || role === 'admin';
  if (action === 'write') return role === 'operator' || role === 'admin';
  return role === 'admin';
}

/** An API error: the status, and the field and rule the engine named. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || (status ? `the engine answered ${status}` : 'the engine cannot be reached'));
    this.status = status;
    this.code = body?.error?.code ?? null;
    this.field = body?.error?.field ?? null;
  }
}

function parse(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function failed(status, json) {
  // A token that stops working (removed from the configuration) signs the console out.
  if (status === 401 && session.me) {
    forget();
    session.onSignedOut();
  }
  return new ApiError(status, json);
}

/** One request; the parsed JSON answer, or an ApiError. */
export async function api(method, path, body, type = 'application/json') {
  const headers = { 'X-Auth-Token': session.token ?? '' };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = type;
    init.body = type === 'application/json' ? JSON.stringify(body) : body;
  }
  let res;
  try {
    res = await fetch(`/api/v1${path}`, init);
  } catch {
    throw new ApiError(0, null);
  }
  const json = parse(await res.text());
  if (!res.ok) throw failed(res.status, json);
  return json;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);
/** JSON lines, as they are (trigger events). */
export const postLines = (path, text) => api('POST', path, text, 'application/x-ndjson');

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

const TYPES = { csv: 'text/csv', json: 'application/json', jsonl: 'application/x-ndjson', ndjson: 'application/x-ndjson' };

/** Uploads a file as a request body, reporting progress (0..1); XMLHttpRequest is the one
 * browser API that reports an upload's progress. */
export function upload(path, file, onProgress) {
  const ext = file.name.split('.').pop().toLowerCase();
  const type = TYPES[ext] ?? (file.type || 'text/csv');
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1${path}`);
    xhr.setRequestHeader('X-Auth-Token', session.token ?? '');
    xhr.setRequestHeader('Content-Type', type);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      const json = parse(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) resolve(json);
      else reject(failed(xhr.status, json));
    };
    xhr.onerror = () => reject(new ApiError(0, null));
    xhr.send(file);
  });
}

/** Follows the server-sent event stream at `path` until `signal` aborts, reconnecting after a
 * break. EventSource cannot send a header, so the stream is read with fetch. */
export function follow(path, onEvent, signal, onState = () => {}) {
  const run = async () => {
    while (!signal.aborted) {
      try {
        const res = await fetch(`/api/v1${path}`, {
          headers: { 'X-Auth-Token': session.token ?? '', Accept: 'text/event-stream' },
          signal,
        });
        if (!res.ok) throw failed(res.status, null);
        onState('live');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            dispatch(buffer.slice(0, end), onEvent);
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (e) {
        if (signal.aborted || e.status === 401) return;
      }
      onState('reconnecting');
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  run();
}

function dispatch(block, onEvent) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (name === 'event') event = value;
    else if (name === 'data') data.push(value);
  }
  if (data.length) onEvent(event, parse(data.join('\n')) ?? data.join('\n'));
}
