// deployments.js - every deployment (made with the CLI or here): state,
// processes, live instances, req/s, p50/p99, last error, memory; polled
// every 2 s with the time of the last refresh shown; buttons for scale,
// pause, resume, restart and undeploy; on one deployment's page the version
// switch, canary, promote and rollback, its instances, a chart
// of req/s and p99 over the last minutes, and its log tail.
import { html, useState, useEffect, useRef, fmtNum, ErrorBox } from '../lib/html.js';
import { get, post, del } from '../lib/api.js';
import { JobProgress } from '../lib/job.js';
import uPlot from '../vendor/uPlot.mjs';

const POLL_MS = 2000;
const HISTORY = 150; // samples kept for the chart (5 minutes at 2 s)

function usePoll(path, ms) {
  const [state, setState] = useState({ data: null, error: null, at: null });
  useEffect(() => {
    let live = true;
    let timer;
    const tick = async () => {
      try {
        const data = await get(path);
        if (live) setState({ data, error: null, at: new Date() });
      } catch (e) {
        if (live) setState((s) => ({ ...s, error: e, at: new Date() }));
      }
      if (live) timer = setTimeout(tick, ms);
    };
    tick();
    return () => { live = false; clearTimeout(timer); };
  }, [path]);
  return state;
}

function Actions({ d, onJob }) {
  const [n, setN] = useState(d.processes);
  const [error, setError] = useState(null);
  const enc = encodeURIComponent(d.name);
  const run = async (fn) => {
    try { setError(null); const r = await fn(); if (r && r.job) onJob(r.job, `${r.kind} ${d.name}`); } catch (e) { setError(e); }
  };
  return html`<div class="actions">
    <form class="inline" onSubmit=${(e) => { e.preventDefault(); run(() => post(`/api/deployments/${enc}/scale`, { processes: Number(n) })); }}>
      <input class="procs" type="number" min="1" max="64" value=${n} onInput=${(e) => setN(e.target.value)} aria-label="processes" data-scale=${d.name} />
      <button type="submit" data-action="scale">Scale</button>
    </form>
    ${d.state === 'paused' || d.state === 'stopped'
      ? html`<button type="button" data-action="resume" onClick=${() => run(() => post(`/api/deployments/${enc}/resume`))}>Resume</button>`
      : html`<button type="button" data-action="pause" onClick=${() => run(() => post(`/api/deployments/${enc}/pause`))}>Pause</button>`}
    <button type="button" data-action="restart" onClick=${() => run(() => post(`/api/deployments/${enc}/restart`))}>Restart</button>
    <button type="button" class="danger" data-action="undeploy" onClick=${() => {
      if (confirm(`Undeploy ${d.name}? Its route and processes go away.`)) run(() => del(`/api/deployments/${enc}`));
    }}>Undeploy</button>
    <${ErrorBox} error=${error} />
  </div>`;
}

function Row({ d, onJob }) {
  return html`<tr data-deployment=${d.name}>
    <td><a href=${`#/deployments/${encodeURIComponent(d.name)}`}>${d.name}</a></td>
    <td>${d.version}</td>
    <td><span class=${`badge ${d.state === 'running' ? 'ok' : 'warn'}`}>${d.state}</span></td>
    <td class="num" data-field="processes">${d.processes}</td>
    <td class="num" data-field="live">${d.live}</td>
    <td class="num" data-field="serving">${d.serving_processes}</td>
    <td class="num">${fmtNum(d.rps, 1)}</td>
    <td class="num">${fmtNum(d.p50_ms, 2)} / ${fmtNum(d.p99_ms, 2)}</td>
    <td class="num">${fmtNum(d.memory_kb / 1024, 1)} MiB</td>
    <td class="err">${d.last_error || '-'}</td>
    <td><${Actions} d=${d} onJob=${onJob} /></td>
  </tr>`;
}

function Jobs({ jobs }) {
  return html`<div class="jobs">${jobs.map((j) => html`<${JobProgress} key=${j.id} id=${j.id} title=${j.title} />`)}</div>`;
}

export function Deployments() {
  const { data, error, at } = usePoll('/api/deployments', POLL_MS);
  const [jobs, setJobs] = useState([]);
  const onJob = (id, title) => setJobs((js) => [{ id, title }, ...js].slice(0, 5));
  return html`<section>
    <h1>Deployments</h1>
    <p class="muted">Every deployment in the registry, including those made with <code>cubeserve deploy</code>.
      Refreshed every ${POLL_MS / 1000} s; last refresh <span id="refreshed">${at ? at.toLocaleTimeString() : '-'}</span>.</p>
    <${ErrorBox} error=${error} />
    <${Jobs} jobs=${jobs} />
    ${data === null ? html`<p class="muted">Loading\u2026</p>` : data.length === 0 ? html`<p class="muted">Nothing is deployed.</p>`
      : html`<table class="deployments"><thead><tr><th>model</th><th>version</th><th>state</th><th>processes</th><th>live instances</th><th>serving processes</th>
          <th>req/s</th><th>p50 / p99 ms</th><th>memory</th><th>last error</th><th></th></tr></thead>
          <tbody>${data.map((d) => html`<${Row} key=${d.name} d=${d} onJob=${onJob} />`)}</tbody></table>`}
  </section>`;
}

function Chart({ samples }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = Math.min(760, (box.current && box.current.clientWidth) || 600);
    plot.current = new uPlot({
      width, height: 220,
      series: [{}, { label: 'req/s', stroke: '#3b6fd8', scale: 'rps' }, { label: 'p99 ms', stroke: '#d8743b', scale: 'ms' }],
      axes: [{}, { scale: 'rps', label: 'req/s' }, { scale: 'ms', side: 1, label: 'p99 ms', grid: { show: false } }],
    }, [[], [], []], box.current);
    return () => plot.current.destroy();
  }, []);
  useEffect(() => {
    if (!plot.current) return;
    plot.current.setData([samples.map((s) => s.t), samples.map((s) => s.rps), samples.map((s) => s.p99)]);
  }, [samples]);
  return html`<div class="chart" ref=${box} id="chart"></div>`;
}

function LogTail({ name }) {
  const [log, setLog] = useState(null);
  const [error, setError] = useState(null);
  const load = () => get(`/api/deployments/${encodeURIComponent(name)}/logs?lines=80`).then((l) => { setLog(l); setError(null); }).catch(setError);
  useEffect(() => { load(); }, [name]);
  return html`<section><h2>Log <button type="button" onClick=${load}>Refresh</button></h2>
    <${ErrorBox} error=${error} />
    ${log ? html`<p class="muted">${log.log}</p><pre class="log" id="log">${log.text || '(empty)'}</pre>` : null}</section>`;
}

// Version switch, canary, promote and rollback: the `cubeserve deploy`
// version switch through POST /api/deployments/NAME/switch, /promote, /rollback.
function Versions({ d, onJob }) {
  const [versions, setVersions] = useState([]);
  const [ver, setVer] = useState('');
  const [canary, setCanary] = useState('');
  const [error, setError] = useState(null);
  const enc = encodeURIComponent(d.name);
  useEffect(() => {
    get(`/api/models/${enc}`).then((m) => {
      const vs = m.versions.map((v) => v.version);
      setVersions(vs);
      setVer(vs.find((v) => v !== d.version) || vs[0] || '');
    }).catch(setError);
  }, [d.name]);
  const run = async (fn) => {
    try { setError(null); const r = await fn(); if (r && r.job) onJob(r.job, `${r.kind} ${d.name}`); } catch (e) { setError(e); }
  };
  return html`<div class="actions versions">
    <form class="inline" onSubmit=${(e) => {
      e.preventDefault();
      const body = { version: ver };
      if (canary) body.canary = Number(canary);
      run(() => post(`/api/deployments/${enc}/switch`, body));
    }}>
      <label>Version <select id="switch-version" value=${ver} onChange=${(e) => setVer(e.target.value)}>
        ${versions.map((v) => html`<option value=${v}>${v}${v === d.version ? ' (deployed)' : ''}</option>`)}</select></label>
      <label>canary % <input class="procs" type="number" min="1" max="99" placeholder="all" value=${canary}
        onInput=${(e) => setCanary(e.target.value)} /></label>
      <button type="submit" data-action="switch">${canary ? 'Start canary' : 'Switch'}</button>
    </form>
    <button type="button" data-action="promote" onClick=${() => run(() => post(`/api/deployments/${enc}/promote`))}>Promote canary</button>
    <button type="button" data-action="rollback" onClick=${() => run(() => post(`/api/deployments/${enc}/rollback`))}>Roll back</button>
    <${ErrorBox} error=${error} />
  </div>`;
}

export function DeploymentPage({ name }) {
  const { data: d, error, at } = usePoll(`/api/deployments/${encodeURIComponent(name)}`, POLL_MS);
  const [samples, setSamples] = useState([]);
  const [jobs, setJobs] = useState([]);
  useEffect(() => {
    if (!d) return;
    setSamples((s) => [...s, { t: Date.now() / 1000, rps: d.rps, p99: d.p99_ms == null ? null : d.p99_ms }].slice(-HISTORY));
  }, [at]);
  const onJob = (id, title) => setJobs((js) => [{ id, title }, ...js].slice(0, 5));
  if (!d) return error ? html`<${ErrorBox} error=${error} />` : html`<p class="muted">Loading\u2026</p>`;
  return html`<section>
    <h1>${d.name} <span class="muted">${d.version}</span> <span class=${`badge ${d.state === 'running' ? 'ok' : 'warn'}`}>${d.state}</span></h1>
    ${d.canary_version ? html`<p class="badge warn" id="canary">canary: ${d.canary_percent} % of the requests to ${d.canary_version}</p>` : null}
    <p class="muted">Last refresh <span id="refreshed">${at ? at.toLocaleTimeString() : '-'}</span>
      \u2014 <a href=${`#/models/${encodeURIComponent(d.name)}`}>the model</a></p>
    <${ErrorBox} error=${error} />
    <div class="figures-row">
      <div><span class="big" id="processes">${d.processes}</span> processes</div>
      <div><span class="big">${d.live}</span> live instances</div>
      <div><span class="big">${d.serving_processes}</span> serving processes</div>
      <div><span class="big">${fmtNum(d.rps, 1)}</span> req/s</div>
      <div><span class="big">${fmtNum(d.p50_ms, 2)}</span> / ${fmtNum(d.p99_ms, 2)} ms p50 / p99</div>
      <div><span class="big">${d.requests}</span> requests</div>
      <div><span class="big">${fmtNum(d.memory_kb / 1024, 1)}</span> MiB</div>
    </div>
    <${Actions} d=${d} onJob=${onJob} />
    <${Versions} d=${d} onJob=${onJob} />
    <${Jobs} jobs=${jobs} />
    <${Chart} samples=${samples} />
    <h2>Instances</h2>
    <table><thead><tr><th>id</th><th>state</th><th>socket</th><th>processes</th><th>busy</th><th>requests</th><th>req/s</th><th>p50 / p99 ms</th><th>last error</th></tr></thead>
      <tbody>${d.instances.map((i) => html`<tr><td>${i.id || `${i.host}:${i.pid}`}</td><td>${i.state}</td><td><code>${i.listen}</code></td>
        <td class="num">${i.processes}</td><td class="num">${i.busy}</td><td class="num">${i.requests}</td><td class="num">${i.rps || '-'}</td>
        <td class="num">${i.p50_ms || '-'} / ${i.p99_ms || '-'}</td><td class="err">${i.last_error || '-'}</td></tr>`)}</tbody></table>
    <${LogTail} name=${d.name} />
  </section>`;
}
