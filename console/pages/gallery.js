// gallery.js - the running models that ship a demo page (web/ folder).
import { html, useState, useEffect, ErrorBox } from '../lib/html.js';
import { get } from '../lib/api.js';

export function Gallery() {
  const [models, setModels] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    get('/api/models?web=true&deployed=true&per_page=100').then(setModels).catch((e) => { setError(e); setModels([]); });
  }, []);
  return html`<section>
    <h1>Demos</h1>
    <p class="muted">Running models that ship their own page (a <code>web/</code> folder published with the model).</p>
    <${ErrorBox} error=${error} />
    ${models === null ? html`<p class="muted">Loading\u2026</p>`
      : models.length === 0 ? html`<p class="muted">No running model has a demo page.</p>`
      : html`<div class="cards">${models.map((m) => html`<article class="card">
          <h3>${m.name}</h3>
          <p class="summary">${m.summary}</p>
          <p><a class="button" href=${`/models/${encodeURIComponent(m.name)}/web/`}>Open the demo</a>
             <a href=${`#/models/${encodeURIComponent(m.name)}`}>the model</a></p>
        </article>`)}</div>`}
  </section>`;
}
