// console_browser_auth.mjs - the console's sign-in on a stack with
// accounts, in headless Chromium: a wrong password shows the API's error,
// the admin signs in (the header shows it, the password field is emptied),
// scales a deployment from the page (a job run with the admin's session),
// and signs out (the session is revoked). Prints TAP; screenshots to
// SHOTS_DIR.
//
// Usage: node console_browser_auth.mjs BASE_URL SHOTS_DIR  (password in $CS_ADMIN_PASSWORD)
import { pathToFileURL } from 'node:url';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const [base, shots] = process.argv.slice(2);
const password = process.env.CS_ADMIN_PASSWORD;
if (!base || !shots || !password) {
  console.error('usage: CS_ADMIN_PASSWORD=... node console_browser_auth.mjs BASE_URL SHOTS_DIR');
  process.exit(2);
}
const srcdir = process.env.CS_TOP_SRCDIR || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const { chromium } = await import(pathToFileURL(path.join(srcdir, 'console/node_modules/playwright-core/index.mjs')).href);
mkdirSync(shots, { recursive: true });

let n = 0;
let failed = 0;
async function check(desc, fn) {
  n += 1;
  try { await fn(); console.log(`ok ${n} - ${desc}`); } catch (e) {
    failed += 1;
    console.log(`not ok ${n} - ${desc}`);
    for (const line of String(e.message).split('\n').slice(0, 8)) console.log(`#   ${line}`);
  }
}
function expect(cond, msg) { if (!cond) throw new Error(msg); }
const T = 15000;

const browser = await chromium.launch({
  executablePath: process.env.CS_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
try {
  await check('a wrong password shows the API\'s refusal', async () => {
    await page.goto(`${base}/console/#/signin`);
    await page.waitForSelector('#signin-password', { timeout: T });
    await page.fill('#signin-name', 'admin');
    await page.fill('#signin-password', 'not-the-password');
    await page.click('#signin');
    await page.waitForSelector('.error', { timeout: T });
    expect((await page.textContent('.error')).includes('401'), await page.textContent('.error'));
    expect((await page.inputValue('#signin-password')) === '', 'the password field was not emptied');
  });

  await check('the admin signs in with the password', async () => {
    await page.fill('#signin-name', 'admin');
    await page.fill('#signin-password', password);
    await page.click('#signin');
    await page.waitForFunction(() => document.getElementById('user-link').textContent.includes('admin'), null, { timeout: T });
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    expect(!stored.includes(password), 'the password is in the browser\'s storage');
    await page.goto(`${base}/console/#/signin`);
    await page.waitForSelector('#role', { timeout: T });
    expect((await page.textContent('#role')).trim() === 'admin', 'role is not admin');
    await page.screenshot({ path: path.join(shots, 'signin-accounts.png'), fullPage: true });
  });

  await check('signed in, the admin scales a deployment from the page', async () => {
    await page.goto(`${base}/console/#/deployments`);
    const row = 'tr[data-deployment="linear"]';
    await page.waitForSelector(row, { timeout: T });
    await page.fill(`${row} input[data-scale="linear"]`, '2');
    await page.click(`${row} button[data-action="scale"]`);
    await page.waitForSelector('.job[data-state="done"]', { timeout: 60000 });
    await page.waitForFunction((r) => {
      const e = document.querySelector(r);
      return e && e.querySelector('[data-field="processes"]').textContent.trim() === '2';
    }, row, { timeout: 30000 });
  });

  await check('signing out revokes the session', async () => {
    const tok = await page.evaluate(() => sessionStorage.getItem('cubeserve.token'));
    expect(tok, 'no session token in this tab');
    await page.goto(`${base}/console/#/signin`);
    await page.waitForSelector('#signout', { timeout: T });
    await page.click('#signout');
    await page.waitForFunction(() => document.getElementById('user-link').textContent.trim() === 'Sign in', null, { timeout: T });
    const res = await page.evaluate(async (t) => (await fetch('/api/me', { headers: { Authorization: `Bearer ${t}` } })).status, tok);
    expect(res === 401, `the old token still works (status ${res})`);
  });
} finally {
  await browser.close();
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
