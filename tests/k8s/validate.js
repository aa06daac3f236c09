#!/usr/bin/env node
// validate.js - checks the YAML that `cubeserve k8s export` writes, offline:
// every document is parsed (the yaml package, YAML 1.2 core schema and, for
// strings, 1.1 as well) and validated against the Kubernetes OpenAPI schema
// (kubernetes-models) or KEDA's CRD schema (@kubernetes-models/keda); then the
// objects are checked against each other the way the cluster would use them
// (selectors, the ConfigMap and ports a pod refers to, the ScaledObject's
// target); and no object may carry a field its Kubernetes type does not
// have (strict.mjs: the API server's strict field validation). Prints one line per check, "ok ..." or "not ok ...: why"; exits 1
// when any failed. Usage: node validate.js FILE... (or - for stdin)
'use strict';
const fs = require('fs');
const YAML = require('yaml');
const core = require('kubernetes-models/v1');
const apps = require('kubernetes-models/apps/v1');
const keda = require('@kubernetes-models/keda/keda.sh/v1alpha1');

const models = {
  'v1/ConfigMap': core.ConfigMap,
  'v1/Service': core.Service,
  'v1/Secret': core.Secret,
  'apps/v1/Deployment': apps.Deployment,
  'keda.sh/v1alpha1/ScaledObject': keda.ScaledObject,
};

let failed = 0;
const say = (ok, what, why) => {
  if (!ok) failed++;
  console.log(ok ? `ok ${what}` : `not ok ${what}: ${why}`);
};

const docs = [];
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate.js FILE... (or - for stdin)');
  process.exit(2);
}
for (const f of files) {
  const text = fs.readFileSync(f === '-' ? 0 : f, 'utf8');
  const parsed = YAML.parseAllDocuments(text);
  for (const d of parsed) {
    if (d.errors.length) {
      say(false, `${f}: YAML`, d.errors.map((e) => e.message).join('; '));
      continue;
    }
    // the same text read as YAML 1.1 must give the same value (no "on" -> true)
    const v12 = d.toJS();
    const v11 = YAML.parse(String(d), { version: '1.1' });
    if (JSON.stringify(v11) !== JSON.stringify(v12))
      say(false, `${f}: YAML 1.1`, 'reads differently as YAML 1.1');
    if (v12 !== null) docs.push({ file: f, obj: v12 });
  }
}
if (docs.length === 0) say(false, 'documents', 'no YAML document found');

async function main() {
const { unknownFields } = await import('./strict.mjs');
const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const byKind = {};
const strictChecks = [];
for (const { file, obj } of docs) {
  const id = `${obj.kind} ${obj.metadata && obj.metadata.name}`;
  const Model = models[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) {
    say(false, id, `no schema for ${obj.apiVersion} ${obj.kind} (${file})`);
    continue;
  }
  try {
    new Model(obj).validate();
    say(true, `${id}: schema ${obj.apiVersion}`);
  } catch (e) {
    say(false, `${id}: schema ${obj.apiVersion}`, e.message);
  }
  strictChecks.push(unknownFields(obj).then((u) => {
    if (u !== null) say(u.length === 0, `${id}: no unknown fields`, u.join(', '));
  }));
  const name = obj.metadata && obj.metadata.name;
  say(typeof name === 'string' && name.length <= 63 && DNS1123.test(name), `${id}: name is DNS-1123`,
    `'${name}'`);
  (byKind[obj.kind] = byKind[obj.kind] || []).push(obj);
}

const matches = (sel, labels) =>
  sel && Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels && labels[k] === v);

for (const d of byKind.Deployment || []) {
  const id = `Deployment ${d.metadata.name}`;
  const tpl = d.spec.template;
  say(matches(d.spec.selector.matchLabels, tpl.metadata.labels), `${id}: selector matches its pods`,
    JSON.stringify(d.spec.selector.matchLabels));
  const pod = tpl.spec;
  const vols = new Set((pod.volumes || []).map((v) => v.name));
  for (const c of [...(pod.initContainers || []), ...pod.containers]) {
    for (const m of c.volumeMounts || [])
      say(vols.has(m.name), `${id}: container ${c.name} mounts a declared volume ${m.name}`, 'no such volume');
    for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
      const port = c[p] && c[p].httpGet && c[p].httpGet.port;
      if (typeof port === 'string')
        say((c.ports || []).some((x) => x.name === port), `${id}: ${c.name} ${p} port ${port} is declared`,
          'no container port of that name');
    }
  }
  for (const v of pod.volumes || [])
    if (v.configMap)
      say((byKind.ConfigMap || []).some((m) => m.metadata.name === v.configMap.name),
        `${id}: ConfigMap ${v.configMap.name} is exported`, 'missing');
}
for (const s of byKind.Service || []) {
  const id = `Service ${s.metadata.name}`;
  const target = (byKind.Deployment || []).find((d) => matches(s.spec.selector, d.spec.template.metadata.labels));
  say(!!target, `${id}: selects the pods of an exported Deployment`, JSON.stringify(s.spec.selector));
  if (target)
    for (const p of s.spec.ports)
      if (typeof p.targetPort === 'string')
        say(target.spec.template.spec.containers.some((c) => (c.ports || []).some((x) => x.name === p.targetPort)),
          `${id}: targetPort ${p.targetPort} is a named container port`, 'not found');
}
for (const so of byKind.ScaledObject || []) {
  const id = `ScaledObject ${so.metadata.name}`;
  const ref = so.spec.scaleTargetRef;
  say((byKind.Deployment || []).some((d) => d.metadata.name === ref.name && d.metadata.namespace === so.metadata.namespace),
    `${id}: scales an exported Deployment in its namespace`, JSON.stringify(ref));
  say(so.spec.minReplicaCount >= 1 && so.spec.minReplicaCount <= so.spec.maxReplicaCount,
    `${id}: 1 <= minReplicaCount <= maxReplicaCount`, `${so.spec.minReplicaCount}..${so.spec.maxReplicaCount}`);
  for (const t of so.spec.triggers)
    if (t.type === 'metrics-api')
      say(/^https?:\/\//.test(t.metadata.url) && t.metadata.valueLocation && Number(t.metadata.targetValue) > 0,
        `${id}: metrics-api trigger has url, valueLocation and a positive targetValue`, JSON.stringify(t.metadata));
}
await Promise.all(strictChecks);
console.log(`${docs.length} documents, ${failed} failed checks`);
process.exit(failed ? 1 : 0);
}
main().catch((e) => {
  console.log(`not ok validate.js: ${e.stack || e}`);
  process.exit(1);
});
