// html.js - preact + htm from the locally served npm files, and small
// formatting helpers every page uses.
import { h, render, Fragment } from '../vendor/preact.mjs';
import { useState, useEffect, useRef, useCallback } from '../vendor/preact-hooks.mjs';
import htm from '../vendor/htm.mjs';

export const html = htm.bind(h);
export { h, render, Fragment, useState, useEffect, useRef, useCallback };

export function fmtBytes(n) {
  if (n == null || n < 0) return '-';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function fmtNum(v, digits = 1) {
  return v == null || Number.isNaN(v) ? '-' : Number(v).toFixed(digits);
}

export function fmtTime(ms) {
  return ms ? new Date(ms).toLocaleString() : '-';
}

export function stars(r) {
  const full = Math.round(r || 0);
  return '\u2605'.repeat(full) + '\u2606'.repeat(5 - full);
}

// A visible error: every request that fails shows one of these.
export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="error" role="alert">${String(error.message || error)}</div>`;
}
