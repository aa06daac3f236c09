// signin.js - who the console acts as. On a stack with accounts
// (`cubeserve up --auth on`): a name and password give a session
// (POST /api/session); only its token is kept, in this tab; signing out
// revokes it. Without accounts: a name only, sent with ratings,
// favourites and comments. No password is ever stored.
import { html, useState, useEffect, ErrorBox } from '../lib/html.js';
import { get, request, setUser, setSession } from '../lib/api.js';

export function SignIn({ user }) {
  const [me, setMe] = useState(null);
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  useEffect(() => { get('/api/me').then(setMe).catch(setError); }, [user]);

  const signOut = async () => {
    setError(null);
    if (me && me.signed_in) {
      try { await request('DELETE', '/api/session'); } catch (e) { setError(e); }
    }
    if (me && me.accounts) setSession('', '');
    else setUser('');
  };
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) {
      setError(new Error('A name is 1 to 64 letters, digits, or . _ @ -'));
      return;
    }
    if (me && me.accounts) {
      try {
        const r = await request('POST', '/api/session', { name, password });
        setPassword('');
        setSession(r.data.user, r.data.token);
        location.hash = '#/';
      } catch (err) { setPassword(''); setError(err); }
    } else {
      setUser(name);
      location.hash = '#/';
    }
  };
  if (!me) return error ? html`<${ErrorBox} error=${error} />` : html`<p class="muted">Loading\u2026</p>`;
  if (user && (me.signed_in || !me.accounts)) {
    return html`<section class="narrow">
      <h1>Signed in</h1>
      <p>The console acts as <strong id="signed-in-as">${me.signed_in ? me.user : user}</strong>
        ${me.signed_in ? html` (role <span id="role">${me.role}</span>)` : null}.</p>
      <button id="signout" type="button" onClick=${signOut}>Sign out</button>
      <${ErrorBox} error=${error} />
    </section>`;
  }
  return html`<section class="narrow">
    <h1>Sign in</h1>
    ${me.accounts
      ? html`<p class="muted">This stack has accounts. Your password goes to the server once; the console keeps only
          the session it gives, in this tab.</p>`
      : html`<p class="muted">This stack runs without accounts (<code>cubeserve up --auth off</code>): give the name the
          console should act as for ratings, favourites and comments. Nothing else is stored.</p>`}
    <form onSubmit=${submit}>
      <p><label>Name <input id="signin-name" value=${name} onInput=${(e) => setName(e.target.value)} autocomplete="username" /></label></p>
      ${me.accounts ? html`<p><label>Password <input id="signin-password" type="password" value=${password}
          onInput=${(e) => setPassword(e.target.value)} autocomplete="current-password" /></label></p>` : null}
      <button id="signin" type="submit">Sign in</button>
    </form>
    <${ErrorBox} error=${error} />
  </section>`;
}
