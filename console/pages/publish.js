// publish.js - publish by upload: a .tar.gz of a model directory goes
// through the same validate -> test-load -> store -> register steps as
// `cubeserve publish`; the page follows them.
import { html, useState, ErrorBox } from '../lib/html.js';
import { request } from '../lib/api.js';
import { JobProgress } from '../lib/job.js';

export function Publish() {
  const [file, setFile] = useState(null);
  const [job, setJob] = useState(null);
  const [error, setError] = useState(null);
  const send = async (e) => {
    e.preventDefault();
    setError(null);
    setJob(null);
    if (!file) { setError(new Error('Choose a .tar.gz of a model directory first.')); return; }
    try {
      const r = await request('POST', '/api/models', file, 'application/gzip');
      setJob(r.data.job);
    } catch (err) { setError(err); }
  };
  return html`<section class="narrow">
    <h1>Publish a model</h1>
    <p class="muted">Upload a <code>.tar.gz</code> of a model directory (its <code>model.json</code> at the top or in one
      folder; a <code>web/</code> folder becomes its demo page). It is validated, test-loaded, stored and registered
      as <code>cubeserve publish</code> does; nothing is stored when a step fails.</p>
    <form onSubmit=${send}>
      <input id="publish-file" type="file" accept=".tar.gz,.tgz,application/gzip" onChange=${(e) => setFile(e.target.files[0] || null)} />
      <button id="publish-send" type="submit">Publish</button>
    </form>
    <${ErrorBox} error=${error} />
    ${job ? html`<${JobProgress} id=${job} title="publish" />` : null}
  </section>`;
}
