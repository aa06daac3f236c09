// signin.js - who the console acts as. Until accounts exist in the
// registry this is a name only (sent as X-Cubeserve-User with ratings,
// favourites and comments); no password is asked for or stored.
import { html, useState } from '../lib/html.js';
import { setUser } from '../lib/api.js';

export function SignIn({ user }) {
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const submit = (e) => {
    e.preventDefault();
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) {
      setError('A name is 1 to 64 letters, digits, or . _ @ -');
      return;
    }
    setError('');
    setUser(name);
    location.hash = '#/';
  };
  if (user) {
    return html`<section class="narrow">
      <h1>Signed in</h1>
      <p>The console acts as <strong id="signed-in-as">${user}</strong> for ratings, favourites and comments.</p>
      <button id="signout" type="button" onClick=${() => setUser('')}>Sign out</button>
    </section>`;
  }
  return html`<section class="narrow">
    <h1>Sign in</h1>
    <p class="muted">Accounts with passwords and roles are not in this registry yet: give the name the
      console should act as. Nothing else is stored (the name stays in this browser).</p>
    <form onSubmit=${submit}>
      <label>Name <input id="signin-name" value=${name} onInput=${(e) => setName(e.target.value)} autocomplete="username" /></label>
      <button id="signin" type="submit">Sign in</button>
    </form>
    ${error ? html`<div class="error" role="alert">${error}</div>` : null}
  </section>`;
}
