// The console's REST API (docs/api.md) as the pages use it. The bearer token lives in
// sessionStorage only: it is gone when the tab closes and is never written to a cookie or
// to localStorage. Every failure is an ApiError whose message a page can show as it is.

const TOKEN_KEY = 'krond.token';

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  // status 0: the console did not answer at all.
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// What an operator should read for each status; the server's own text follows it.
export function describeError(error) {
  if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
  switch (error.status) {
    case 0:
      return 'The console is not answering. Check that krond console is running; retrying.';
    case 401:
      return `Not signed in or the token is not valid: ${error.message}`;
    case 403:
      return `Not allowed: ${error.message}`;
    case 503:
      return `Kafka or the history store is unavailable, nothing was changed for sure: ${error.message}`;
    default:
      return error.message;
  }
}

// Listeners of the console's reachability: called with true after any answer, false when a
// request got none. The banner uses it.
const reachability = new Set();
export function onReachability(listener) {
  reachability.add(listener);
  return () => reachability.delete(listener);
}
function reached(ok) {
  for (const listener of reachability) listener(ok);
}

// Listeners called when a request was answered 401: the token expired or was revoked.
const unauthorized = new Set();
export function onUnauthorized(listener) {
  unauthorized.add(listener);
  return () => unauthorized.delete(listener);
}

export async function api(method, path, body, token = getToken()) {
  const headers = {Accept: 'application/json'};
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = {method, headers, cache: 'no-store'};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/v1${path}`, init);
  } catch (e) {
    reached(false);
    throw new ApiError(0, e.message);
  }
  reached(true);
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401) for (const listener of unauthorized) listener();
    throw new ApiError(response.status, (data && data.error) || `HTTP ${response.status}`);
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);

// A query string from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// The live stream of results and control changes (GET /api/v1/events). EventSource cannot
// send headers, so the token goes in the query (the API accepts it there for this endpoint
// only). One stream is shared by every page; `status` listeners hear 'open' | 'retrying'.
const eventListeners = new Set();
const statusListeners = new Set();
let source = null;
let retryTimer = null;
let streamStatus = 'closed';

function setStreamStatus(status) {
  streamStatus = status;
  for (const listener of statusListeners) listener(status);
}

function openStream() {
  if (source) source.close();
  const token = getToken();
  source = new EventSource(`/api/v1/events${token ? `?access_token=${encodeURIComponent(token)}` : ''}`);
  source.onopen = () => setStreamStatus('open');
  for (const type of ['result', 'control', 'catalog']) {
    source.addEventListener(type, (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      for (const listener of eventListeners) listener(type, data);
    });
  }
  source.onerror = () => {
    setStreamStatus('retrying');
    // A refused stream (401, 503: too many streams) is closed for good by the browser;
    // reopen it later ourselves. A dropped one the browser retries on its own.
    if (source.readyState === EventSource.CLOSED && !retryTimer) {
      retryTimer = setTimeout(() => {
        retryTimer = null;
        if (eventListeners.size) openStream();
      }, 5000);
    }
  };
}

export function subscribe(listener, onStatus) {
  eventListeners.add(listener);
  if (onStatus) {
    statusListeners.add(onStatus);
    onStatus(streamStatus);
  }
  if (!source || source.readyState === EventSource.CLOSED) openStream();
  return () => {
    eventListeners.delete(listener);
    if (onStatus) statusListeners.delete(onStatus);
    if (!eventListeners.size && source) {
      source.close();
      source = null;
      setStreamStatus('closed');
    }
  };
}
