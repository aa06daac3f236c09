// api.js - the console's requests to /api/ (docs/api.md). Writes carry the
// X-Cubeserve-Csrf header, which a cross-site form cannot send, and the
// signed-in user's name. A failure throws an Error whose message is the
// API's own error text, with the status and the request.
const USER_KEY = 'cubeserve.user';

export function currentUser() {
  return localStorage.getItem(USER_KEY) || '';
}

export function setUser(name) {
  if (name) localStorage.setItem(USER_KEY, name);
  else localStorage.removeItem(USER_KEY);
  window.dispatchEvent(new Event('cubeserve-user'));
}

export async function request(method, path, body, contentType) {
  const headers = { Accept: 'application/json' };
  const user = currentUser();
  if (user) headers['X-Cubeserve-User'] = user;
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
