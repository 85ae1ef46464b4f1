#!/usr/bin/env node
// Validates the Kubernetes manifests of docker/kubernetes/ against the Kubernetes OpenAPI schema, in two
// layers: (1) each document is instantiated as its kubernetes-models class (apiVersion + kind; an unknown kind
// fails) and `.validate()`d by the validator generated from the OpenAPI schema (types, enums, formats,
// required fields); (2) the same document, as an object literal of the model's TypeScript interface, goes
// through the TypeScript compiler, whose excess-property check rejects unknown fields at any depth (the
// OpenAPI schema itself allows them, where `kubectl apply --validate=strict` does not). Reads only.
// --self-test proves that a wrong type, a missing required field, an unknown field and an unknown kind are
// each rejected, and that a good manifest passes.
//
//   cd tests/tools/stack-validate && node ../../stack/validate_kubernetes.mjs [--self-test] [FILE...]

import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fs from 'node:fs';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const toolsDir = path.join(repo, 'tests/tools/stack-validate');
const nodeModules = path.join(toolsDir, 'node_modules');
// The pinned packages live in the tools directory, not next to this script.
const require = createRequire(path.join(toolsDir, 'package.json'));
const ts = require('typescript');
const YAML = require('yaml');

const DEFAULT_DIR = path.join(repo, 'docker/kubernetes');

// apiVersion -> the directory of its models. Core (v1) and the built-in groups come from kubernetes-models,
// the Prometheus Operator's CRDs from @kubernetes-models/prometheus-operator.
function modelFile(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^[A-Z][A-Za-z0-9]*$/.test(kind)) {
    return null;
  }
  const parts = apiVersion.split('/');
  let dir;
  if (parts.length === 1) {
    dir = path.join(nodeModules, 'kubernetes-models', parts[0]);
  } else if (parts[0] === 'monitoring.coreos.com') {
    dir = path.join(nodeModules, '@kubernetes-models/prometheus-operator', parts[0], parts[1]);
  } else {
    dir = path.join(nodeModules, 'kubernetes-models', parts[0], parts[1]);
  }
  const file = path.join(dir, `${kind}.js`);
  return fs.existsSync(file) && fs.existsSync(path.join(dir, `${kind}.d.ts`)) ? file : null;
}

async function loadModel(apiVersion, kind) {
  const file = modelFile(apiVersion, kind);
  if (!file) return { error: `unknown kind ${apiVersion}/${kind} (no model in kubernetes-models or the prometheus-operator models)` };
  const module = await import(pathToFileURL(file).href);
  const Model = module[kind];
  // A file of that name that is not the resource's model (a spec type, say) does not count.
  if (typeof Model !== 'function' || Model.kind !== kind || Model.apiVersion !== apiVersion) {
    return { error: `unknown kind ${apiVersion}/${kind}` };
  }
  return { Model, declarations: file.replace(/\.js$/, '.d.ts') };
}

function describe(doc, index) {
  const name = doc?.metadata?.name ?? '(no name)';
  return `document ${index + 1} (${doc?.kind ?? '?'} ${name})`;
}

// Layer 1: the OpenAPI validator. Returns error strings.
async function schemaErrors(doc) {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return ['not a mapping'];
  const { Model, error } = await loadModel(doc.apiVersion, doc.kind);
  if (error) return [error];
  try {
    new Model(doc).validate();
  } catch (e) {
    return [String(e.message ?? e)];
  }
  return [];
}

// Layer 2: every document as `const doc: I<Kind> = {...}` in one in-memory TypeScript program. Returns a map
// from the document's key to its error strings.
async function strictFieldErrors(entries) {
  const sources = new Map();
  for (const { key, doc } of entries) {
    const { declarations, error } = await loadModel(doc?.apiVersion, doc?.kind);
    if (error) continue;   // reported by layer 1
    const spec = declarations.replace(/\.d\.ts$/, '.js');
    const text = `import type { I${doc.kind} } from ${JSON.stringify(spec)};\n` +
      `export const doc: I${doc.kind} = ${JSON.stringify(doc, null, 2)};\n`;
    sources.set(path.join(toolsDir, `__manifest_${sources.size}.ts`), { key, text });
  }
  const errors = new Map();
  if (sources.size === 0) return errors;
  const options = {
    noEmit: true, strict: true, skipLibCheck: true, types: [],
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (f) => sources.get(path.resolve(f))?.text ?? readFile(f);
  host.fileExists = (f) => sources.has(path.resolve(f)) || fileExists(f);
  host.getSourceFile = (f, lang, ...rest) => {
    const source = sources.get(path.resolve(f));
    return source ? ts.createSourceFile(f, source.text, lang, true) : getSourceFile(f, lang, ...rest);
  };
  const program = ts.createProgram([...sources.keys()], options, host);
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const source = diagnostic.file && sources.get(path.resolve(diagnostic.file.fileName));
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ');
    if (!source) {
      const key = '(models)';
      errors.set(key, [...(errors.get(key) ?? []), message]);
      continue;
    }
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    const at = source.text.split('\n')[line]?.trim() ?? '';
    errors.set(source.key, [...(errors.get(source.key) ?? []), `${message} (at ${at})`]);
  }
  return errors;
}

// Validates named YAML texts; returns { checked, failures: [string] }.
async function validateTexts(texts) {
  const entries = [];
  const failures = [];
  for (const [file, text] of texts) {
    // YAML 1.1, as kubectl reads it (yes/no are booleans, 1:30 is a number).
    const parsed = YAML.parseAllDocuments(text, { version: '1.1' });
    parsed.forEach((document, index) => {
      const label = `${file}: ${describe(document.toJS(), index)}`;
      if (document.errors.length) {
        failures.push(`${label}: YAML: ${document.errors.map((e) => e.message).join('; ')}`);
        return;
      }
      const doc = document.toJS();
      if (doc === null || doc === undefined) return;   // an empty document (a trailing ---)
      entries.push({ key: label, doc });
    });
  }
  for (const { key, doc } of entries) {
    for (const error of await schemaErrors(doc)) failures.push(`${key}: schema: ${error}`);
  }
  for (const [key, errors] of await strictFieldErrors(entries)) {
    for (const error of errors) failures.push(`${key}: fields: ${error}`);
  }
  return { checked: entries.length, failures };
}

// --- the self-test ----------------------------------------------------------------------------------------

const GOOD = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'probe' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'probe' } },
    template: {
      metadata: { labels: { app: 'probe' } },
      spec: {
        initContainers: [{ name: 'sidecar', image: 'apimeter:0.1.0', restartPolicy: 'Always',
          readinessProbe: { httpGet: { path: '/readyz', port: 'admin' } },
          ports: [{ name: 'admin', containerPort: 9901 }] }],
        containers: [{ name: 'app', image: 'app:1', lifecycle: { preStop: { sleep: { seconds: 5 } } } }],
      },
    },
  },
};
const GOOD_RULE = {
  apiVersion: 'monitoring.coreos.com/v1',
  kind: 'PrometheusRule',
  metadata: { name: 'probe' },
  spec: { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up == 0', for: '5m', labels: { severity: 'critical' } }] }] },
};

function mutate(base, change) {
  const copy = structuredClone(base);
  change(copy);
  return YAML.stringify(copy);
}

async function selfTest() {
  const cases = [
    // [name, yaml, expected: 'pass' | the layer that must reject it]
    ['a good Deployment', YAML.stringify(GOOD), 'pass'],
    ['a good PrometheusRule', YAML.stringify(GOOD_RULE), 'pass'],
    ['wrong type: replicas "two"', mutate(GOOD, (d) => { d.spec.replicas = 'two'; }), 'schema'],
    ['wrong type: containerPort "9901"', mutate(GOOD, (d) => { d.spec.template.spec.initContainers[0].ports[0].containerPort = '9901'; }), 'schema'],
    ['bad enum: port protocol TCPX', mutate(GOOD, (d) => { d.spec.template.spec.initContainers[0].ports[0].protocol = 'TCPX'; }), 'schema'],
    ['missing required: selector', mutate(GOOD, (d) => { delete d.spec.selector; }), 'schema'],
    ['missing required: container name', mutate(GOOD, (d) => { delete d.spec.template.spec.containers[0].name; }), 'schema'],
    ['missing required: rule expr', mutate(GOOD_RULE, (d) => { delete d.spec.groups[0].rules[0].expr; }), 'schema'],
    ['unknown field: container imagee', mutate(GOOD, (d) => { d.spec.template.spec.containers[0].imagee = 'x'; }), 'fields'],
    ['unknown field: spec.replica', mutate(GOOD, (d) => { d.spec.replica = 2; }), 'fields'],
    ['unknown field: probe httpGet.paht', mutate(GOOD, (d) => { d.spec.template.spec.initContainers[0].readinessProbe.httpGet.paht = '/x'; }), 'fields'],
    ['unknown field: rule exprs', mutate(GOOD_RULE, (d) => { d.spec.groups[0].rules[0].exprs = 'up'; }), 'fields'],
    ['unknown kind: apps/v1 Deploymint', mutate(GOOD, (d) => { d.kind = 'Deploymint'; }), 'schema'],
    ['unknown kind: a spec type as kind', mutate(GOOD, (d) => { d.kind = 'DeploymentSpec'; }), 'schema'],
  ];
  let failed = 0;
  for (const [name, text, expected] of cases) {
    const { failures } = await validateTexts([[`self-test ${name}`, text]]);
    const layers = new Set(failures.map((f) => (f.includes(': schema: ') ? 'schema' : f.includes(': fields: ') ? 'fields' : 'other')));
    const ok = expected === 'pass' ? failures.length === 0 : layers.has(expected);
    if (!ok) failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${failures.length ? `rejected (${[...layers].join(', ')})` : 'accepted'}` +
      (ok ? '' : `, expected ${expected === 'pass' ? 'accepted' : `rejected by the ${expected} layer`}`));
    if (!ok) for (const f of failures) console.log(`       ${f}`);
  }
  console.log(`${cases.length - failed} passed, ${failed} failed`);
  return failed === 0;
}

// --- main ---------------------------------------------------------------------------------------------------

async function main(argv) {
  if (argv.includes('--help')) {
    console.log('usage: node validate_kubernetes.mjs [--self-test] [FILE...]   (default: docker/kubernetes/*.yaml)');
    return 0;
  }
  if (argv.includes('--self-test')) return (await selfTest()) ? 0 : 1;
  let files = argv.filter((a) => !a.startsWith('--'));
  if (files.length === 0) {
    files = fs.readdirSync(DEFAULT_DIR).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(DEFAULT_DIR, f));
  }
  if (files.length === 0) {
    console.error(`validate_kubernetes: no manifests in ${DEFAULT_DIR}`);
    return 1;
  }
  const texts = files.map((f) => [path.relative(repo, path.resolve(f)), fs.readFileSync(f, 'utf8')]);
  const { checked, failures } = await validateTexts(texts);
  for (const failure of failures) console.error(failure);
  if (checked === 0) failures.push('no documents');
  console.log(`validate_kubernetes: ${checked} documents in ${files.length} files, ${failures.length} problems`);
  return failures.length ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
