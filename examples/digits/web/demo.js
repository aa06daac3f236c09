// demo.js - the digits model's demo page: an 8x8 grid to paint (values
// 0..16, as scikit-learn's digits), samples to pick, and the model's answer
// from POST /models/digits on this same origin.
const N = 8, MAX = 16;
const pad = document.getElementById('pad');
const ctx = pad.getContext('2d');
const cell = pad.width / N;
let pixels = new Array(N * N).fill(0);
let painting = 0; // 0 none, 1 paint, -1 erase
let pending = null;

function draw() {
  ctx.clearRect(0, 0, pad.width, pad.height);
  for (let i = 0; i < N * N; i++) {
    const v = pixels[i] / MAX;
    const g = Math.round(255 * (1 - v));
    ctx.fillStyle = `rgb(${g},${g},${g})`;
    ctx.fillRect((i % N) * cell, Math.floor(i / N) * cell, cell, cell);
  }
  ctx.strokeStyle = '#e3e7ef';
  for (let k = 1; k < N; k++) {
    ctx.beginPath(); ctx.moveTo(k * cell, 0); ctx.lineTo(k * cell, pad.height); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, k * cell); ctx.lineTo(pad.width, k * cell); ctx.stroke();
  }
  document.getElementById('request').textContent = JSON.stringify({ pixels });
}

function paintAt(ev) {
  const r = pad.getBoundingClientRect();
  const x = Math.floor((ev.clientX - r.left) / r.width * N);
  const y = Math.floor((ev.clientY - r.top) / r.height * N);
  if (x < 0 || y < 0 || x >= N || y >= N) return;
  const i = y * N + x;
  pixels[i] = painting > 0 ? Math.min(MAX, pixels[i] + 8) : 0;
  draw();
}

pad.addEventListener('contextmenu', (ev) => ev.preventDefault());
pad.addEventListener('pointerdown', (ev) => {
  painting = ev.button === 2 || ev.shiftKey ? -1 : 1;
  pad.setPointerCapture(ev.pointerId);
  paintAt(ev);
});
pad.addEventListener('pointermove', (ev) => { if (painting) paintAt(ev); });
pad.addEventListener('pointerup', () => { painting = 0; predict(); });

document.getElementById('clear').addEventListener('click', () => {
  pixels = new Array(N * N).fill(0);
  draw();
  show(null);
});

function show(ans) {
  const d = document.getElementById('digit');
  const c = document.getElementById('confidence');
  const t = document.getElementById('top3');
  t.replaceChildren();
  if (!ans) { d.textContent = '?'; c.textContent = 'draw something'; return; }
  d.textContent = String(ans.digit);
  c.textContent = `confidence ${(ans.confidence * 100).toFixed(1)} %`;
  for (const e of ans.top3 || []) {
    const li = document.createElement('li');
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.max(2, e.p * 120)}px`;
    li.textContent = `${e.digit}: ${(e.p * 100).toFixed(1)} %`;
    li.append(bar);
    t.append(li);
  }
}

async function predict() {
  const err = document.getElementById('error');
  if (pixels.every((v) => v === 0)) { show(null); return; }
  const body = JSON.stringify({ pixels });
  pending = body;
  try {
    const res = await fetch('/models/digits', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body,
    });
    const j = await res.json().catch(() => ({ error: `HTTP ${res.status}: not JSON` }));
    if (pending !== body) return;
    if (!res.ok) throw new Error(j.error || `HTTP ${res.status}`);
    err.hidden = true;
    show(j);
  } catch (e) {
    err.hidden = false;
    err.textContent = `The model did not answer: ${e.message}`;
  }
}

async function loadSamples() {
  const box = document.getElementById('samples');
  try {
    const res = await fetch('samples.json');
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    for (const s of await res.json()) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = `sample ${s.label}`;
      b.addEventListener('click', () => { pixels = s.pixels.slice(); draw(); predict(); });
      box.append(b);
    }
  } catch (e) {
    box.textContent = `(samples not loaded: ${e.message})`;
  }
}

draw();
loadSamples();
