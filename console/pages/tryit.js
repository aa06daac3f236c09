// tryit.js - the API tester: a request pre-filled from the manifest's
// example, for the model's own methods and for the V2 protocol; Send shows
// the status, the time and the pretty-printed answer, and the same call
// as a curl line.
import { html, useState, useEffect } from '../lib/html.js';

// A V2 request from the declared inputs; an input whose element count
// matches an array in the example takes that array's values.
function v2Example(m) {
  const ex = m.version.example;
  const arrays = ex && typeof ex === 'object' ? Object.values(ex).filter(Array.isArray) : [];
  const inputs = (m.version.inputs || []).map((t) => {
    const shape = (t.shape || []).map((d) => (d < 0 ? 1 : d));
    const count = shape.reduce((a, b) => a * b, 1);
    const match = arrays.find((a) => a.length === count && a.every((x) => typeof x === 'number'));
    const data = match ? match.slice() : new Array(Math.min(count, 4096)).fill(0);
    return { name: t.name, shape, datatype: t.dtype, data };
  });
  return { inputs };
}

function targets(m) {
  const methods = m.version.public && m.version.public.length ? m.version.public : ['predict'];
  const list = methods.map((x, i) => ({
    label: i === 0 ? `${x} (POST /models/${m.name})` : `${x} (POST /models/${m.name}/${x})`,
    path: i === 0 ? `/models/${m.name}` : `/models/${m.name}/${x}`,
    body: m.version.example ?? {},
  }));
  list.push({ label: `V2 infer (POST /v2/models/${m.name}/infer)`, path: `/v2/models/${m.name}/infer`, body: v2Example(m) });
  return list;
}

function shellQuote(s) {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

export function TryIt({ m }) {
  const list = targets(m);
  const [key, setKey] = useState('');
  const [which, setWhich] = useState(0);
  const [body, setBody] = useState(JSON.stringify(list[0].body, null, 2));
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => { setBody(JSON.stringify(list[which].body, null, 2)); setResult(null); }, [which, m.name]);

  const t = list[which];
  let compact = body;
  try { compact = JSON.stringify(JSON.parse(body)); } catch (e) { /* shown on send */ }
  const auth = m.public === false ? ` -H "Authorization: Bearer $CUBESERVE_KEY"` : '';
  const curl = `curl -s ${location.origin}${t.path}${auth} -H 'Content-Type: application/json' -d ${shellQuote(compact)}`;

  const send = async () => {
    setBusy(true);
    const started = performance.now();
    try {
      JSON.parse(body);
    } catch (e) {
      setResult({ error: `The request is not valid JSON: ${e.message}` });
      setBusy(false);
      return;
    }
    try {
      const headers = { 'Content-Type': 'application/json' };
      if (key) headers.Authorization = `Bearer ${key}`;
      const res = await fetch(t.path, { method: 'POST', headers, body });
      const text = await res.text();
      const ms = performance.now() - started;
      let pretty = text;
      try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON: as is */ }
      setResult({ status: res.status, ok: res.ok, ms, text: pretty });
    } catch (e) {
      setResult({ error: `POST ${t.path}: the server did not answer (${e.message})` });
    }
    setBusy(false);
  };

  return html`<div class="tryit">
    ${m.deployed ? null : html`<div class="error">${m.name} is not deployed: the request will fail until it is.</div>`}
    <label>Endpoint <select id="try-target" value=${which} onChange=${(e) => setWhich(Number(e.target.value))}>
      ${list.map((x, i) => html`<option value=${i}>${x.label}</option>`)}</select></label>
    ${m.public === false ? html`<p><label>API key (this model is private; the key is not kept)
      <input id="try-key" type="password" value=${key} onInput=${(e) => setKey(e.target.value)} autocomplete="off" /></label></p>` : null}
    <textarea id="try-body" rows="10" spellcheck="false" value=${body} onInput=${(e) => setBody(e.target.value)}></textarea>
    <p><button id="try-send" type="button" disabled=${busy} onClick=${send}>${busy ? 'Sending\u2026' : 'Send'}</button></p>
    <p class="muted">The same call: <code id="try-curl" class="curl">${curl}</code></p>
    ${result && result.error ? html`<div class="error" role="alert">${result.error}</div>` : null}
    ${result && !result.error ? html`<div class="response">
      <p><span id="try-status" class=${`badge ${result.ok ? 'ok' : 'bad'}`}>${result.status}</span>
        <span id="try-time">${result.ms.toFixed(1)} ms</span></p>
      <pre id="try-response">${result.text}</pre></div>` : null}
  </div>`;
}
