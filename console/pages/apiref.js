// apiref.js - a model's API reference, rendered from its OpenAPI 3
// document (GET /models/NAME/openapi.json, made from the manifest).
import { html, useState, useEffect, ErrorBox } from '../lib/html.js';
import { get } from '../lib/api.js';

function resolve(doc, schema) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split('/').pop();
    return { name, schema: doc.components.schemas[name] };
  }
  return { name: null, schema };
}

function Operation({ doc, path, method, op }) {
  const body = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
  const req = body ? resolve(doc, body.schema) : null;
  return html`<article class="op">
    <h3><span class=${`method ${method}`}>${method.toUpperCase()}</span> <code>${path}</code></h3>
    <p>${op.summary}</p>
    ${req ? html`<p class="muted">Request body: ${req.name ? html`<code>${req.name}</code>` : 'JSON'}</p>` : null}
    ${body && body.example !== undefined ? html`<details><summary>example request</summary><pre>${JSON.stringify(body.example, null, 2)}</pre></details>` : null}
    ${Object.entries(op.responses || {}).filter(([code]) => code.startsWith('2')).map(([code, r]) =>
      html`<p><code>${code}</code> ${r.description}</p>`)}
    <details><summary>errors: ${Object.keys(op.responses || {}).filter((c) => !c.startsWith('2')).join(', ')}
      (JSON <code>{"error": ...}</code>)</summary>
      <table class="responses"><tbody>
        ${Object.entries(op.responses || {}).filter(([code]) => !code.startsWith('2')).map(([code, r]) =>
          html`<tr><td><code>${code}</code></td><td>${r.description}</td></tr>`)}
      </tbody></table></details>
  </article>`;
}

export function ApiRef({ name }) {
  const [doc, setDoc] = useState(null);
  const [error, setError] = useState(null);
  const url = `/models/${encodeURIComponent(name)}/openapi.json`;
  useEffect(() => { get(url).then(setDoc).catch(setError); }, [name]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!doc) return html`<p class="muted">Loading the OpenAPI document\u2026</p>`;
  return html`<div class="apiref" id="apiref">
    <p>OpenAPI ${doc.openapi}: <a href=${url}>${url}</a> \u2014 ${doc.info.title} ${doc.info.version}</p>
    ${Object.entries(doc.paths).map(([path, ops]) => Object.entries(ops).map(([method, op]) =>
      html`<${Operation} doc=${doc} path=${path} method=${method} op=${op} />`))}
    <h2>Schemas</h2>
    ${Object.entries(doc.components.schemas).map(([n, s]) => html`<details><summary><code>${n}</code></summary><pre>${JSON.stringify(s, null, 2)}</pre></details>`)}
  </div>`;
}
