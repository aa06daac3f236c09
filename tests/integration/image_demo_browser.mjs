// image_demo_browser.mjs - the mobilenet_image demo page in headless
// Chromium (playwright-core from console/node_modules, /usr/bin/chromium):
// open /models/mobilenet_image/web/, choose an image in the file input,
// see five classes with scores, the same as the API answers; a GIF shows
// an error; no console errors (a CSP violation is one). Prints TAP lines
// (numbered from START) and a last line "n=<count> failed=<count>".
//
// Usage: node image_demo_browser.mjs BASE_URL IMAGE.jpg IMAGE.gif WANT.json START
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const [base, jpg, gif, wantFile, start] = process.argv.slice(2);
const srcdir = process.env.CS_TOP_SRCDIR || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const { chromium } = await import(pathToFileURL(path.join(srcdir, 'console/node_modules/playwright-core/index.mjs')).href);
const want = JSON.parse(readFileSync(wantFile, 'utf8')).top5;

let n = Number(start) - 1;
let failed = 0;
async function check(desc, fn) {
  n += 1;
  try {
    await fn();
    console.log(`ok ${n} - ${desc}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok ${n} - ${desc}`);
    for (const line of String(e.message || e).split('\n').slice(0, 6)) console.log(`#   ${line}`);
  }
}
function expect(cond, msg) { if (!cond) throw new Error(msg); }

const browser = await chromium.launch({
  executablePath: process.env.CS_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const page = await browser.newPage();
const errors = [];
page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
page.on('pageerror', (e) => errors.push(String(e)));
const T = 30000;

await check('demo page: /models/mobilenet_image/web/ loads, names the endpoint', async () => {
  const r = await page.goto(`${base}/models/mobilenet_image/web/`, { timeout: T });
  expect(r && r.status() === 200, `status ${r && r.status()}`);
  const ep = await page.textContent('#endpoint');
  expect(ep === '/models/mobilenet_image', `endpoint shown: ${ep}`);
});
await check('demo page: choosing a JPEG shows the top-5 the API answers, and a preview', async () => {
  await page.setInputFiles('#file', jpg);
  await page.waitForSelector('#top5 li:nth-child(5)', { timeout: T });
  const rows = await page.$$eval('#top5 li', (lis) => lis.map((li) => li.children[0].textContent));
  expect(JSON.stringify(rows) === JSON.stringify(want.map((t) => t.label)),
    `page ${JSON.stringify(rows)} vs API ${JSON.stringify(want.map((t) => t.label))}`);
  await page.waitForFunction(() => {
    const img = document.getElementById('preview');
    return !img.hidden && img.naturalWidth > 0;
  }, null, { timeout: T });
  const status = await page.textContent('#status');
  expect(/answered in \d+ ms/.test(status), `status line: ${status}`);
});
await check('demo page: a GIF is refused on the page with a message', async () => {
  await page.setInputFiles('#file', gif);
  await page.waitForFunction(() => document.getElementById('status').className === 'error', null, { timeout: T });
  const status = await page.textContent('#status');
  expect(/only JPEG and PNG/.test(status), `status line: ${status}`);
});
await check('demo page: no console errors (no CSP violation)', async () => {
  expect(errors.length === 0, errors.join('\n'));
});
await browser.close();
console.log(`n=${n} failed=${failed}`);
