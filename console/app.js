// app.js - the console: a hash router over small pages (pages/*.js).
// Every page reads the JSON API under /api/ and shows its errors.
import { html, render, useState, useEffect } from './lib/html.js';
import { currentUser } from './lib/api.js';
import { Market } from './pages/market.js';
import { ModelPage } from './pages/model.js';
import { Deployments, DeploymentPage } from './pages/deployments.js';
import { Gallery } from './pages/gallery.js';
import { Publish } from './pages/publish.js';
import { SignIn } from './pages/signin.js';

// "#/models/digits/try?x=1" -> { parts: ['models','digits','try'], query }
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?');
  return {
    parts: path.split('/').filter(Boolean).map(decodeURIComponent),
    query: new URLSearchParams(qs || ''),
  };
}

function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

function useUser() {
  const [user, setU] = useState(currentUser());
  useEffect(() => {
    const on = () => setU(currentUser());
    window.addEventListener('cubeserve-user', on);
    return () => window.removeEventListener('cubeserve-user', on);
  }, []);
  return user;
}

function Nav({ section, user }) {
  const link = (href, label, key) =>
    html`<a href=${href} class=${section === key ? 'active' : ''}>${label}</a>`;
  return html`<header class="top">
    <a class="brand" href="#/">cubeserve</a>
    <nav>
      ${link('#/', 'Market', 'market')}
      ${link('#/gallery', 'Demos', 'gallery')}
      ${link('#/deployments', 'Deployments', 'deployments')}
      ${link('#/publish', 'Publish', 'publish')}
    </nav>
    <a class="user" href="#/signin" id="user-link">${user ? `Signed in as ${user}` : 'Sign in'}</a>
  </header>`;
}

function App() {
  const { parts, query } = useRoute();
  const user = useUser();
  const [first, second, third] = parts;
  let page;
  let section = first || 'market';
  if (!first || first === 'market') page = html`<${Market} query=${query} />`;
  else if (first === 'models' && second) page = html`<${ModelPage} name=${second} tab=${third || 'overview'} user=${user} />`;
  else if (first === 'deployments' && second) page = html`<${DeploymentPage} name=${second} />`;
  else if (first === 'deployments') page = html`<${Deployments} />`;
  else if (first === 'gallery') page = html`<${Gallery} />`;
  else if (first === 'publish') page = html`<${Publish} />`;
  else if (first === 'signin') page = html`<${SignIn} user=${user} />`;
  else page = html`<div class="error">No page '${parts.join('/')}' in the console.</div>`;
  if (first === 'models') section = 'market';
  return html`<${Nav} section=${section} user=${user} /><main>${page}</main>`;
}

const root = document.getElementById('app');
root.replaceChildren(); // the loading note
render(html`<${App} />`, root);
