// job.js - the progress of a job (publish, deploy, scale, ...): its steps
// as the `cubeserve` command printed them, the failing one marked, and
// the command's output when it failed.
import { html, useState, useEffect } from './html.js';
import { followJob } from './api.js';

export function JobProgress({ id, title, onDone }) {
  const [job, setJob] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    followJob(id, (j) => { if (live) setJob(j); })
      .then((j) => { if (live && onDone) onDone(j); })
      .catch((e) => { if (live) setError(e); });
    return () => { live = false; };
  }, [id]);
  if (error) return html`<div class="error" role="alert">${error.message}</div>`;
  if (!job) return html`<p class="muted">${title}: starting\u2026</p>`;
  return html`<div class=${`job ${job.state}`} data-job=${id} data-state=${job.state}>
    <p><strong>${title}</strong>: <span class="job-state">${job.state}</span>
      ${job.exit != null && job.exit !== 0 ? html` (exit ${job.exit})` : null}</p>
    ${job.steps && job.steps.length ? html`<ol class="steps">${job.steps.map((s) =>
      html`<li class=${`step ${s.state}`}>[${s.of ? `${s.step}/${s.of}` : s.step}] ${s.title} \u2014 ${s.state}</li>`)}</ol>` : null}
    ${job.state !== 'running' ? html`<details open=${job.state === 'failed'}><summary>output</summary><pre class="log">${job.log}</pre></details>` : null}
  </div>`;
}
