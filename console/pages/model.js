// model.js - one model: overview (description, inputs and outputs,
// versions, files, rating, favourite, comments, deploy), Try it (the API
// tester) and the API reference from its OpenAPI document.
import { html, useState, useEffect, fmtBytes, fmtTime, stars, ErrorBox } from '../lib/html.js';
import { get, post, put, del } from '../lib/api.js';
import { JobProgress } from '../lib/job.js';
import { marked } from '../vendor/marked.mjs';
import DOMPurify from '../vendor/purify.mjs';
import { TryIt } from './tryit.js';
import { ApiRef } from './apiref.js';

function Markdown({ text }) {
  const clean = DOMPurify.sanitize(marked.parse(text || ''));
  return html`<div class="markdown" dangerouslySetInnerHTML=${{ __html: clean }}></div>`;
}

function Tensors({ list }) {
  if (!list || !list.length) return html`<p class="muted">Not declared (the model's own are used).</p>`;
  return html`<table><thead><tr><th>name</th><th>dtype</th><th>shape</th></tr></thead><tbody>
    ${list.map((t) => html`<tr><td><code>${t.name}</code></td><td>${t.dtype}</td><td><code>[${(t.shape || []).join(', ')}]</code></td></tr>`)}
  </tbody></table>`;
}

function Comments({ name, user }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [text, setText] = useState('');
  const [replyTo, setReplyTo] = useState(0);
  const load = () => get(`/api/models/${encodeURIComponent(name)}/comments`).then(setList).catch(setError);
  useEffect(() => { load(); }, [name]);
  const send = async (e) => {
    e.preventDefault();
    try {
      await post(`/api/models/${encodeURIComponent(name)}/comments`, { text, parent: replyTo || undefined });
      setText(''); setReplyTo(0); setError(null); load();
    } catch (err) { setError(err); }
  };
  const one = (c, reply) => html`<li class="comment" data-id=${c.id}>
    <p class="meta"><strong>${c.user}</strong> <span class="muted">${fmtTime(c.time)}</span>
      ${reply ? null : html` <button type="button" class="link" onClick=${() => setReplyTo(c.id)}>reply</button>`}</p>
    <p class="text">${c.text}</p>
    ${c.replies && c.replies.length ? html`<ul class="replies">${c.replies.map((r) => one(r, true))}</ul>` : null}
  </li>`;
  return html`<section class="comments">
    <h2>Comments</h2>
    <${ErrorBox} error=${error} />
    ${list === null ? html`<p class="muted">Loading\u2026</p>` : list.length === 0 ? html`<p class="muted">No comments yet.</p>`
      : html`<ul>${list.map((c) => one(c, false))}</ul>`}
    <form onSubmit=${send}>
      ${replyTo ? html`<p>Replying to comment ${replyTo} <button type="button" class="link" onClick=${() => setReplyTo(0)}>cancel</button></p>` : null}
      <textarea id="comment-text" rows="3" placeholder=${user ? `Comment as ${user}` : 'Comment (as anonymous; sign in to use a name)'}
        value=${text} onInput=${(e) => setText(e.target.value)}></textarea>
      <button id="comment-send" type="submit" disabled=${!text.trim()}>Send</button>
    </form>
  </section>`;
}

function Overview({ m, reload, user }) {
  const [error, setError] = useState(null);
  const [job, setJob] = useState(null);
  const [procs, setProcs] = useState(1);
  const v = m.version;
  const act = async (fn) => { try { setError(null); await fn(); reload(); } catch (e) { setError(e); } };
  const enc = encodeURIComponent(m.name);
  return html`<div class="grid2">
    <div>
      <${Markdown} text=${v.description || m.description} />
      <h2>Inputs</h2><${Tensors} list=${v.inputs} />
      <h2>Outputs</h2><${Tensors} list=${v.outputs} />
      <h2>Versions</h2>
      <table id="versions"><thead><tr><th>version</th><th>published</th><th></th></tr></thead><tbody>
        ${m.versions.map((x) => html`<tr><td>${x.version}${x.default ? html` <span class="badge ok">default</span>` : null}</td>
          <td>${fmtTime(x.published)}</td>
          <td>${x.default ? null : html`<button type="button" onClick=${() => act(() => put(`/api/models/${enc}/default`, { version: x.version }))}>Make default</button>`}
              <a href=${`#/models/${enc}?version=${encodeURIComponent(x.version)}`}>show</a></td></tr>`)}
      </tbody></table>
      <h2>Files of ${v.version}</h2>
      <table id="files"><thead><tr><th>file</th><th>size</th><th>sha256</th></tr></thead><tbody>
        ${v.files.map((f) => html`<tr><td><code>${f.name}</code></td><td>${fmtBytes(f.size)}</td><td><code class="sha">${f.sha256}</code></td></tr>`)}
        ${v.web_files.map((f) => html`<tr><td><code>web/${f.name}</code></td><td>${fmtBytes(f.size)}</td><td><code class="sha">${f.sha256}</code></td></tr>`)}
      </tbody></table>
      <p class="muted">Plugin <code>${v.plugin}</code>, ${fmtBytes(v.size)} in all, published by ${v.publisher || '-'}.</p>
    </div>
    <aside>
      <div class="panel">
        <p class="big" id="rating">${stars(m.rating)} <span class="muted">${m.rating.toFixed(1)} (${m.rating_count})</span></p>
        <p>Your rating: <span class="rate">${[1, 2, 3, 4, 5].map((n) => html`<button type="button" class=${`star ${n <= m.my_rating ? 'on' : ''}`}
          data-stars=${n} title=${`${n} star${n > 1 ? 's' : ''}`}
          onClick=${() => act(() => post(`/api/models/${enc}/rating`, { stars: n }))}>\u2605</button>`)}</span></p>
        <p><button id="favorite" type="button" class=${m.my_favorite ? 'on' : ''}
          onClick=${() => act(() => (m.my_favorite ? del(`/api/models/${enc}/favorite`) : post(`/api/models/${enc}/favorite`)))}>
          ${m.my_favorite ? '\u2665 Favourite' : '\u2661 Add to favourites'}</button> <span id="favorites">${m.favorites}</span></p>
        <p>${m.calls} calls, ${m.views} views</p>
        ${m.web_url && m.deployed ? html`<p><a id="demo-link" class="button" href=${m.web_url}>Open the demo page</a></p>` : null}
        ${m.web_url && !m.deployed ? html`<p class="muted">Has a demo page (served once deployed).</p>` : null}
        ${m.deployment
          ? html`<p>Deployed: <a href=${`#/deployments/${enc}`}>${m.deployment.state}, ${m.deployment.processes} process(es), v${m.deployment.version}</a></p>`
          : html`<form class="inline" onSubmit=${async (e) => {
              e.preventDefault();
              try { setError(null); const r = await post('/api/deployments', { name: m.name, version: v.version, processes: Number(procs) }); setJob(r.job); } catch (err) { setError(err); }
            }}>
              <label>Processes <input type="number" min="1" max="64" value=${procs} onInput=${(e) => setProcs(e.target.value)} /></label>
              <button id="deploy" type="submit">Deploy ${v.version}</button>
            </form>`}
        ${job ? html`<${JobProgress} id=${job} title=${`deploy ${m.name}`} onDone=${reload} />` : null}
        <${ErrorBox} error=${error} />
      </div>
    </aside>
  </div>
  <${Comments} name=${m.name} user=${user} />`;
}

export function ModelPage({ name, tab, user }) {
  const [m, setM] = useState(null);
  const [error, setError] = useState(null);
  const version = new URLSearchParams(location.hash.split('?')[1] || '').get('version');
  const load = () => get(`/api/models/${encodeURIComponent(name)}${version ? `?version=${encodeURIComponent(version)}` : ''}`)
    .then((x) => { setM(x); setError(null); }).catch(setError);
  useEffect(() => { load(); }, [name, version, user]);
  if (error && !m) return html`<${ErrorBox} error=${error} />`;
  if (!m) return html`<p class="muted">Loading ${name}\u2026</p>`;
  const enc = encodeURIComponent(name);
  const tabLink = (t, label) => html`<a href=${`#/models/${enc}${t === 'overview' ? '' : `/${t}`}`} class=${tab === t ? 'active' : ''} id=${`tab-${t}`}>${label}</a>`;
  return html`<section class="model">
    <h1>${m.name} <span class="muted">${m.version.version}</span></h1>
    <p class="tags">${m.tags.map((t) => html`<a class="chip" href=${`#/market?tag=${encodeURIComponent(t)}`}>${t}</a>`)}
      ${m.owner ? html`<span class="muted">by ${m.owner}</span>` : null}</p>
    <nav class="tabs">${tabLink('overview', 'Overview')}${tabLink('try', 'Try it')}${tabLink('api', 'API reference')}
      ${m.web_url && m.deployed ? html`<a href=${m.web_url}>Demo \u2197</a>` : null}</nav>
    <${ErrorBox} error=${error} />
    ${tab === 'try' ? html`<${TryIt} m=${m} />` : tab === 'api' ? html`<${ApiRef} name=${m.name} />` : html`<${Overview} m=${m} reload=${load} user=${user} />`}
  </section>`;
}
