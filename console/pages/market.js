// market.js - the model market: search, tag chips, sort, paging; a card
// per model with its summary, tags, rating, favourites, calls and state.
import { html, useState, useEffect, stars, ErrorBox } from '../lib/html.js';
import { request } from '../lib/api.js';

const PER_PAGE = 12;

function go(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v) q.set(k, v);
  }
  location.hash = `#/market?${q}`;
}

export function Card({ m }) {
  return html`<article class="card" data-model=${m.name}>
    <h3><a href=${`#/models/${encodeURIComponent(m.name)}`}>${m.name}</a>
      ${m.deployed
        ? html`<span class=${`badge ${m.state === 'running' ? 'ok' : 'warn'}`}>${m.state || 'deployed'}</span>`
        : html`<span class="badge">not deployed</span>`}
      ${m.web ? html`<span class="badge demo">demo</span>` : null}
    </h3>
    <p class="summary">${m.summary || 'No description.'}</p>
    <p class="tags">${(m.tags || []).map((t) => html`<a class="chip" href=${`#/market?tag=${encodeURIComponent(t)}`}>${t}</a>`)}</p>
    <p class="figures">
      <span title="rating">${stars(m.rating)} <span class="muted">(${m.rating_count})</span></span>
      <span title="favourites">\u2665 ${m.favorites}</span>
      <span title="calls">${m.calls} calls</span>
      <span class="muted">v${m.default}</span>
    </p>
  </article>`;
}

export function Market({ query }) {
  const q = query.get('q') || '';
  const tags = query.getAll('tag');
  const sort = query.get('sort') || 'name';
  const page = Number(query.get('page') || 1);
  const [state, setState] = useState({ models: null, total: 0, error: null });
  const [allTags, setAllTags] = useState([]);
  const [text, setText] = useState(q);

  useEffect(() => { setText(q); }, [q]);
  useEffect(() => {
    const p = new URLSearchParams({ sort, page: String(page), per_page: String(PER_PAGE) });
    if (q) p.set('q', q);
    tags.forEach((t) => p.append('tag', t));
    request('GET', `/api/models?${p}`)
      .then((r) => setState({ models: r.data, total: Number(r.headers.get('X-Total-Count') || r.data.length), error: null }))
      .catch((e) => setState({ models: [], total: 0, error: e }));
  }, [q, tags.join(','), sort, page]);
  useEffect(() => {
    request('GET', '/api/models?per_page=100')
      .then((r) => setAllTags([...new Set(r.data.flatMap((m) => m.tags || []))].sort()))
      .catch(() => setAllTags([]));
  }, []);

  const pages = Math.max(1, Math.ceil(state.total / PER_PAGE));
  const toggleTag = (t) => go({ q, sort, tag: tags.includes(t) ? tags.filter((x) => x !== t) : [...tags, t] });
  return html`<section>
    <h1>Model market</h1>
    <form class="search" onSubmit=${(e) => { e.preventDefault(); go({ q: text, sort, tag: tags }); }}>
      <input id="search" type="search" placeholder="Search name, description, tags, owner" value=${text}
        onInput=${(e) => setText(e.target.value)} aria-label="search" />
      <button type="submit">Search</button>
      <label>Sort <select id="sort" value=${sort} onChange=${(e) => go({ q, tag: tags, sort: e.target.value })}>
        <option value="name">name</option>
        <option value="newest">newest</option>
        <option value="rating">rating</option>
        <option value="favorites">favourites</option>
        <option value="calls">calls</option>
      </select></label>
    </form>
    <p class="tags">${allTags.map((t) => html`<button type="button" class=${`chip ${tags.includes(t) ? 'on' : ''}`}
      onClick=${() => toggleTag(t)}>${t}</button>`)}</p>
    <${ErrorBox} error=${state.error} />
    ${state.models === null ? html`<p class="muted">Loading\u2026</p>`
      : state.models.length === 0 && !state.error ? html`<p class="muted" id="no-models">No model matches.</p>`
      : html`<div class="cards">${state.models.map((m) => html`<${Card} m=${m} />`)}</div>`}
    <p class="pager">
      <button type="button" disabled=${page <= 1} onClick=${() => go({ q, tag: tags, sort, page: page - 1 })}>\u2190 Previous</button>
      <span>page ${page} of ${pages} (${state.total} models)</span>
      <button type="button" disabled=${page >= pages} onClick=${() => go({ q, tag: tags, sort, page: page + 1 })}>Next \u2192</button>
    </p>
  </section>`;
}
