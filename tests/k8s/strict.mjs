// strict.mjs - unknown-field check: walks an object along the field lists of
// the Kubernetes API types (the generated models of @kubernetes/client-node,
// made from the same OpenAPI document) and returns the paths of fields that
// the type does not have. The JSON schemas allow unknown fields; the API
// server's strict field validation (kubectl's default) refuses them.
import { createRequire } from 'module';
import path from 'path';

const require = createRequire(import.meta.url);
const dir = path.join(path.dirname(require.resolve('@kubernetes/client-node/package.json')),
  'dist', 'gen', 'models');
const cache = new Map();

async function typeMap(type) {
  if (!cache.has(type)) {
    let m = null;
    try {
      const mod = await import(path.join(dir, `${type}.js`));
      m = mod[type] && mod[type].getAttributeTypeMap ? mod[type].getAttributeTypeMap() : null;
    } catch (e) {
      m = null;
    }
    cache.set(type, m);
  }
  return cache.get(type);
}

async function walk(value, type, where, out) {
  if (value === null || value === undefined) return;
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value))
      for (let i = 0; i < value.length; i++) await walk(value[i], arr[1], `${where}[${i}]`, out);
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object')
      for (const [k, v] of Object.entries(value)) await walk(v, map[1], `${where}.${k}`, out);
    return;
  }
  const fields = await typeMap(type);
  if (!fields || typeof value !== 'object' || Array.isArray(value)) return; // a scalar type
  const known = new Map(fields.map((f) => [f.baseName, f.type]));
  for (const [k, v] of Object.entries(value)) {
    if (!known.has(k)) out.push(`${where}.${k}`);
    else await walk(v, known.get(k), `${where}.${k}`, out);
  }
}

// The unknown fields of obj (an apiVersion/kind the models know), or null
// when there is no model for its kind.
export async function unknownFields(obj) {
  const av = obj.apiVersion || '';
  const version = av.includes('/') ? av.split('/')[1] : av;
  const group = av.includes('/') ? av.split('/')[0].split('.')[0] : '';
  const cap = (x) => x.charAt(0).toUpperCase() + x.slice(1);
  let type = cap(version) + obj.kind;
  if (!(await typeMap(type)) && group) type = cap(group) + cap(version) + obj.kind;
  if (!(await typeMap(type))) return null;
  const out = [];
  await walk(obj, type, obj.kind, out);
  return out;
}
