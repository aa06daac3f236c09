// api.js - the console's requests to /api/ (docs/api.md). Writes carry the
// X-Cubeserve-Csrf header, which a cross-site form cannot send. Signed in
// on a stack with accounts, every request carries the session token
// (Authorization: Bearer), kept in this tab's sessionStorage; the
// password is never kept. On a stack without accounts the console sends
// the name it was given (X-Cubeserve-User). A failure throws an Error
// whose message is the API's own error text, with the status and the
// request.
const USER_KEY = 'cubeserve.user';
const TOKEN_KEY = 'cubeserve.token';

export function currentUser() {
  return sessionStorage.getItem(USER_KEY) || localStorage.getItem(USER_KEY) || '';
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

// A name only (a stack without accounts), remembered in this browser.
export function setUser(name) {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
  if (name) localStorage.setItem(USER_KEY, name);
  else localStorage.removeItem(USER_KEY);
  window.dispatchEvent(new Event('cubeserve-user'));
}

// A session (a stack with accounts): the token for this tab only.
export function setSession(user, tok) {
  localStorage.removeItem(USER_KEY);
  if (tok) {
    sessionStorage.setItem(TOKEN_KEY, tok);
    sessionStorage.setItem(USER_KEY, user);
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  }
  window.dispatchEvent(new Event('cubeserve-user'));
}

export async function request(method, path, body, contentType) {
  const headers = { Accept: 'application/json' };
  const user = currentUser();
  const tok = token();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  else if (user) headers['X-Cubeserve-User'] = user;
  if (method !== 'GET') headers['X-Cubeserve-Csrf'] = '1';
  let payload;
  if (body !== undefined) {
    if (contentType) {
      headers['Content-Type'] = contentType;
      payload = body;
    } else {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch (e) {
    throw new Error(`${method} ${path}: the server did not answer (${e.message})`);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!res.ok) {
    const why = data && data.error ? data.error : (text.slice(0, 200) || res.statusText);
    const err = new Error(`${method} ${path}: ${res.status} ${why}`);
    err.status = res.status;
    throw err;
  }
  if (data === null && text) throw new Error(`${method} ${path}: the answer is not JSON`);
  return { data, headers: res.headers, status: res.status };
}

export const get = async (path) => (await request('GET', path)).data;
export const post = async (path, body) => (await request('POST', path, body === undefined ? {} : body)).data;
export const put = async (path, body) => (await request('PUT', path, body)).data;
export const del = async (path) => (await request('DELETE', path)).data;

// Follows a job (publish, deploy, scale, ...) until it ends; onUpdate gets
// every state. Resolves with the last state.
export async function followJob(id, onUpdate) {
  for (;;) {
    const job = await get(`/api/jobs/${encodeURIComponent(id)}`);
    onUpdate(job);
    if (job.state !== 'running') return job;
    await new Promise((r) => setTimeout(r, 500));
  }
}
