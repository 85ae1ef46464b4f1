#!/usr/bin/env node
// Static checks of the Grafana provisioning: (1) every dashboard in conf/grafana/dashboards against Grafana's
// published schema (@grafana/schema, through the TypeScript compiler: the JSON as an object literal of the
// classic Dashboard type, each panel's options and field config of its plugin's types); (2) every PromQL
// expression (targets, variable queries, the datasources' trace-to-metrics queries) parsed by Prometheus's own
// grammar (@prometheus-io/lezer-promql); (3) the conventions: a description and a unit on every panel (rows are
// headings and have neither), thresholds equal to the alert rules' thresholds, provisioned datasource uids,
// exemplars on the raw latency histogram; (4) every metric name against tests/stack/known_metrics.yaml and the
// recording rules. Reads only: the generated TypeScript stays in memory, the self-test's copies go to a temp dir.
//
//   cd tests/tools/stack-validate && node ../../stack/validate_dashboards.mjs [--self-test] [--verbose]
//        [--dashboards DIR] [--datasources FILE] [--rules DIR] [--known-metrics FILE]

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const toolsDir = path.join(repo, 'tests/tools/stack-validate');
// The pinned packages live in the tools directory, not next to this script.
const require = createRequire(path.join(toolsDir, 'package.json'));
const ts = require('typescript');
const YAML = require('yaml');
const { parser: promqlParser } = require('@prometheus-io/lezer-promql');

const DEFAULTS = {
  dashboards: path.join(repo, 'conf/grafana/dashboards'),
  datasources: path.join(repo, 'conf/grafana/provisioning/datasources/datasources.yml'),
  rules: path.join(repo, 'conf/prometheus/rules'),
  knownMetrics: path.join(repo, 'tests/stack/known_metrics.yaml'),
};

// The dashboards the provisioning promises (README and alert links use these uids).
const EXPECTED_UIDS = {
  'api-overview.json': 'apimeter-api-overview',
  'infrastructure.json': 'apimeter-infrastructure',
  'sidecars.json': 'apimeter-sidecars',
};
const SCHEMA_VERSION = 39;
const PANEL_TYPES = new Set(['timeseries', 'stat', 'table', 'bargauge', 'row']);

// A target belongs to a threshold category when it reads one of these metrics and is shown in that unit; its
// panel's thresholds must then hold every threshold the alert rules compare that metric against. `contract`
// is the threshold, used when the rule files give no `expr > number` for the category.
const CATEGORIES = {
  latency: { unit: 's', metric: /http_server_request_duration_seconds(_bucket|:p\d+)/, contract: [2] },
  errors: { unit: 'percentunit', metric: /http_server_error(s|_ratio)/, contract: [0.01] },
  connections: { unit: 'percentunit', metric: /^apimeter_client_connections_limit$/, contract: [0.8] },
  postgres_connections: { unit: 'percentunit', metric: /^pg_settings_max_connections$/, contract: [0.8] },
  overhead: { unit: 's', metric: /apimeter_proxy_overhead_seconds/ },
  rabbitmq_backlog: { unit: 'short', metric: /^rabbitmq_queue_messages_(ready|unacked)$/ },
};

// Grafana's unit ids (packages/grafana-data/src/valueFormats/categories.ts), the categories these dashboards draw
// from, plus the custom-unit prefixes Grafana accepts.
const UNITS = new Set([
  'none', 'string', 'short', 'percent', 'percentunit', 'locale', 'sci', 'hex', 'hex0x',
  'bits', 'bytes', 'kbytes', 'mbytes', 'gbytes', 'tbytes', 'pbytes',
  'decbits', 'decbytes', 'deckbytes', 'decmbytes', 'decgbytes', 'dectbytes', 'decpbytes',
  'pps', 'bps', 'Bps', 'KBs', 'Kbits', 'MBs', 'Mbits', 'GBs', 'Gbits', 'TBs', 'Tbits', 'PBs', 'Pbits',
  'dateTimeAsIso', 'dateTimeAsIsoNoDateIfToday', 'dateTimeAsUS', 'dateTimeAsUSNoDateIfToday', 'dateTimeFromNow',
  'hertz', 'ns', 'µs', 'ms', 's', 'm', 'h', 'd', 'dtdurationms', 'dtdurations', 'dthms', 'dtdhms', 'timeticks',
  'clockms', 'clocks',
  'cps', 'ops', 'reqps', 'rps', 'wps', 'iops', 'cpm', 'opm', 'rpm', 'wpm',
]);
const CUSTOM_UNIT = /^(suffix|prefix|si|count|time|currency):/;

// Grafana's global variables the PromQL may use, and what the parser sees instead of them.
const BUILTIN_VARS = {
  __rate_interval: '5m', __interval: '1m', __range: '1h', __range_s: '3600', __range_ms: '3600000',
  __interval_ms: '60000', __rate_interval_ms: '300000',
};

// ------------------------------------------------------------------------------------------------ utilities

class Report {
  constructor() { this.errors = []; this.notes = []; this.inventory = []; }
  error(check, where, msg) { this.errors.push({ check, where, msg }); }
  note(msg) { this.notes.push(msg); }
}

function readYaml(file) {
  return YAML.parse(fs.readFileSync(file, 'utf8'));
}

function panelsOf(dashboard) {
  const out = [];
  for (const p of dashboard.panels ?? []) {
    out.push(p);
    if (p.type === 'row') out.push(...(p.panels ?? []));
  }
  return out;
}

function panelLabel(file, p) {
  return `${file} panel ${p.id ?? '?'} "${p.title ?? ''}"`;
}

function variableQuery(v) {
  return typeof v.query === 'string' ? v.query : (v.query && typeof v.query.query === 'string' ? v.query.query : '');
}

// ----------------------------------------------------------------------------------------- (1) the schema

// JSON cannot carry a TypeScript enum member, only its value: Json<T> turns each enum into the union of its
// values and leaves the shape (and so the excess-property checks) as it is.
const PRELUDE = `
import type { Dashboard, FieldConfig, DataQuery } from '@grafana/schema';
import type * as TimeSeries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';
import type * as Stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as Table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as BarGauge from '@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen';

type Json<T> =
  T extends string ? \`\${T}\` :
  T extends number | boolean | null | undefined ? T :
  T extends ReadonlyArray<infer U> ? Array<Json<U>> :
  T extends object ? { [K in keyof T]: Json<T[K]> } :
  T;

// @grafana/schema ships no Prometheus query type: these are the fields of Grafana's PromQuery the dashboards use.
interface PrometheusQuery extends Omit<DataQuery, 'datasource' | 'key'> {
  datasource?: { type: 'prometheus'; uid: string };
  expr: string;
  legendFormat?: string;
  instant?: boolean;
  range?: boolean;
  exemplar?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
  interval?: string;
  intervalFactor?: number;
  editorMode?: 'code' | 'builder';
}
type NoCustom = { [key: string]: never };
`;

const PLUGIN_TYPES = {
  timeseries: { options: 'TimeSeries.Options', custom: 'TimeSeries.FieldConfig' },
  stat: { options: 'Stat.Options', custom: 'NoCustom' },
  table: { options: 'Table.Options', custom: 'Table.FieldConfig' },
  bargauge: { options: 'BarGauge.Options', custom: 'NoCustom' },
};

// Serialises a value as a TypeScript literal and remembers which JSON path each property occupies, so a
// diagnostic can name the path in the dashboard rather than a line of generated code.
function emitLiteral(value, base, spans, offset0) {
  let out = '';
  const write = (s) => { out += s; };
  const pos = () => offset0 + out.length;
  const walk = (v, p) => {
    if (Array.isArray(v)) {
      write('[');
      v.forEach((item, i) => {
        if (i) write(', ');
        const start = pos();
        walk(item, `${p}[${i}]`);
        spans.push({ start, end: pos(), path: `${p}[${i}]` });
      });
      write(']');
    } else if (v && typeof v === 'object') {
      write('{');
      Object.entries(v).forEach(([k, item], i) => {
        if (i) write(', ');
        const start = pos();
        write(`${JSON.stringify(k)}: `);
        walk(item, `${p}.${k}`);
        spans.push({ start, end: pos(), path: `${p}.${k}` });
      });
      write('}');
    } else {
      write(JSON.stringify(v));
    }
  };
  walk(value, base);
  return out;
}

function generateTs(file, dashboard) {
  let text = PRELUDE;
  const problems = [];     // found while generating, reported as schema errors
  const statements = [];   // { start, end, label }
  const spans = [];
  const add = (name, type, value, label, basePath) => {
    text += '\n';
    const start = text.length;   // the statement, so a diagnostic on the declared type is placed too
    text += `export const ${name}: ${type} = `;
    text += emitLiteral(value, basePath, spans, text.length);
    statements.push({ start, end: text.length, label });
    text += ';\n';
  };
  const rows = new Map();   // JSON path prefix of each panel -> its label, for diagnostics on the dashboard
  (dashboard.panels ?? []).forEach((p, i) => {
    rows.set(`.panels[${i}]`, panelLabel(file, p));
    (p.panels ?? []).forEach((q, j) => rows.set(`.panels[${i}].panels[${j}]`, panelLabel(file, q)));
  });
  // The whole dashboard against the classic dashboard model.
  add('dashboard', 'Json<Dashboard>', dashboard, file, '');
  // Each panel's plugin options, custom field config, field overrides and queries against their own types.
  panelsOf(dashboard).forEach((p, n) => {
    const plugin = PLUGIN_TYPES[p.type];
    if (!plugin) return;
    const id = String(n);   // the position, not p.id: a duplicate id must not become a duplicate declaration
    const label = panelLabel(file, p);
    if (p.options !== undefined) add(`panel_${id}_options`, `Json<${plugin.options}>`, p.options, label, 'options');
    const custom = p.fieldConfig?.defaults?.custom;
    if (custom !== undefined) {
      add(`panel_${id}_custom`, `Json<${plugin.custom}>`, custom, label, 'fieldConfig.defaults.custom');
    }
    (p.fieldConfig?.overrides ?? []).forEach((o, i) => {
      (o.properties ?? []).forEach((prop, j) => {
        const at = `fieldConfig.overrides[${i}].properties[${j}]`;
        const propId = String(prop.id ?? '');
        let type;
        if (propId.startsWith('custom.')) {
          if (plugin.custom === 'NoCustom') {
            problems.push({ where: `${label} at ${at}`, msg: `override "${propId}": a ${p.type} panel has no custom field config` });
            return;
          }
          type = `Json<NonNullable<${plugin.custom}[${JSON.stringify(propId.slice(7))}]>>`;
        } else {
          type = `Json<NonNullable<FieldConfig[${JSON.stringify(propId)}]>>`;
        }
        add(`panel_${id}_override_${i}_${j}`, type, prop.value ?? null, `${label} override ${propId}`, `${at}.value`);
      });
    });
    (p.targets ?? []).forEach((t, i) => {
      add(`panel_${id}_target_${i}`, 'Json<PrometheusQuery>', t, label, `targets[${i}]`);
    });
  });
  return { text, statements, spans, rows, problems };
}

function checkSchema(dashboards, report) {
  const options = {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler, types: [], lib: ['lib.es2022.d.ts'], skipLibCheck: false,
  };
  const virtual = new Map();
  const generated = new Map();
  for (const { file, json } of dashboards) {
    const name = path.join(toolsDir, '.dashboard-check', file.replace(/\.json$/, '.ts'));
    const g = generateTs(file, json);
    virtual.set(name, g.text);
    generated.set(name, { ...g, file });
    for (const pr of g.problems) report.error('schema', pr.where, pr.msg);
  }
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, lang, onError, shouldCreate) => {
    if (virtual.has(fileName)) return ts.createSourceFile(fileName, virtual.get(fileName), lang, true);
    if (!sourceFileCache.has(fileName)) sourceFileCache.set(fileName, getSourceFile(fileName, lang, onError, shouldCreate));
    return sourceFileCache.get(fileName);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => virtual.has(f) || fileExists(f);
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => (virtual.has(f) ? virtual.get(f) : readFile(f));

  const program = ts.createProgram({ rootNames: [...virtual.keys()], options, host });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  for (const d of diagnostics) {
    // The expanded Json<...> types make long messages: keep their start, which names the key and the type.
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n  ')
      .replace(/'(\{[^']{100})[^']*'/g, "'$1...'");
    const g = d.file && generated.get(d.file.fileName);
    if (!g) {
      report.error('schema', d.file ? d.file.fileName : 'typescript', message);
      continue;
    }
    const stmt = g.statements.find((s) => d.start >= s.start && d.start < s.end);
    let where = stmt ? stmt.label : g.file;
    const span = g.spans.filter((s) => d.start >= s.start && d.start < s.end)
      .sort((a, b) => (a.end - a.start) - (b.end - b.start))[0];
    if (span) {
      const owner = [...g.rows.keys()].filter((k) => span.path === k || span.path.startsWith(`${k}.`))
        .sort((a, b) => b.length - a.length)[0];
      if (stmt?.label === g.file && owner) where = g.rows.get(owner);
      where += ` at ${(owner && stmt?.label === g.file ? span.path.slice(owner.length + 1) : span.path).replace(/^\./, '') || '(panel)'}`;
    }
    report.error('schema', where, message);
  }
}
const sourceFileCache = new Map();

// --------------------------------------------------------------------------------------------- (2) PromQL

// Replaces Grafana template variables by something the grammar accepts in the same place: a word inside a
// string literal, the built-ins' durations, and 1 elsewhere. Returns the text and the user variables used.
function substituteVariables(expr, extra = {}) {
  const used = new Set();
  let out = '';
  let quote = null;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (quote) {
      if (c === '\\') { out += c + (expr[i + 1] ?? ''); i++; continue; }
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'" || c === '`') {
      quote = c;
    }
    let m = null;
    if (c === '$') m = /^\$(?:\{(\w+)(?::[^}]*)?\}|(\w+))/.exec(expr.slice(i));
    else if (c === '[' && expr[i + 1] === '[') m = /^\[\[(\w+)(?::[^\]]*)?\]\]/.exec(expr.slice(i));
    if (!m) { out += c; continue; }
    const name = m[1] ?? m[2];
    if (name in extra) out += extra[name];
    else if (name in BUILTIN_VARS) out += BUILTIN_VARS[name];
    else { used.add(name); out += quote ? 'x' : '1'; }
    i += m[0].length - 1;
  }
  return { text: out, used };
}

function childrenOf(node) {
  const out = [];
  for (let c = node.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
}

// Parses one expression; returns { errors: [{ at, msg }], metrics: Set, tree, text }.
function parsePromql(text) {
  const tree = promqlParser.parse(text);
  const errors = [];
  const metrics = new Set();
  const regexNames = [];
  tree.iterate({
    enter(n) {
      if (n.type.isError) errors.push({ at: n.from, msg: 'syntax error' });
      if (n.name === 'VectorSelector') {
        const node = n.node;
        const id = childrenOf(node).find((c) => c.name === 'Identifier');
        if (id) { metrics.add(text.slice(id.from, id.to)); return; }
        // {__name__="..."} selects by name too.
        const matchers = childrenOf(node).find((c) => c.name === 'LabelMatchers');
        for (const m of matchers ? childrenOf(matchers) : []) {
          const [label, op, value] = childrenOf(m);
          if (!label || !op || !value || text.slice(label.from, label.to) !== '__name__') continue;
          const v = JSON.parse(text.slice(value.from, value.to).replace(/^'|'$/g, '"'));
          if (childrenOf(op)[0]?.name === 'EqlSingle') metrics.add(v);
          else regexNames.push(v);
        }
      }
    },
  });
  if (text.trim() === '') errors.push({ at: 0, msg: 'empty expression' });
  return { errors, metrics, regexNames, tree, text };
}

function caret(text, at) {
  return `${text}\n  ${' '.repeat(Math.min(at, text.length))}^`;
}

// Every PromQL expression of a dashboard: { where, raw, kind, target?, panel? }.
function expressionsOf(file, dashboard) {
  const out = [];
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = variableQuery(v).trim();
    const where = `${file} variable $${v.name}`;
    let m;
    if ((m = /^label_values\(\s*(.+)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/s.exec(q))) {
      out.push({ where, raw: m[1], kind: 'variable' });
    } else if ((m = /^query_result\(\s*(.+)\s*\)$/s.exec(q))) {
      out.push({ where, raw: m[1], kind: 'variable' });
    } else if (!/^(label_values\(\s*\w+\s*\)|label_names\(\)|metrics\(.*\))$/s.test(q)) {
      out.push({ where, raw: q, kind: 'variable-unknown' });
    }
  }
  for (const p of panelsOf(dashboard)) {
    for (const t of p.targets ?? []) {
      out.push({ where: `${panelLabel(file, p)} target ${t.refId}`, raw: t.expr ?? '', kind: 'target', target: t, panel: p });
    }
  }
  return out;
}

// ----------------------------------------------------------------------------------- rules and known names

function loadRules(dir, report) {
  const records = new Set();
  const alerts = [];
  if (!fs.existsSync(dir)) {
    report.note(`no rule directory ${path.relative(repo, dir)}: recording-rule names cannot be resolved`);
    return { records, alerts };
  }
  for (const f of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    let doc;
    try { doc = readYaml(path.join(dir, f)); } catch (e) {
      report.error('rules', f, `cannot parse: ${e.message}`);
      continue;
    }
    for (const g of doc?.groups ?? []) {
      for (const r of g.rules ?? []) {
        if (r.record) records.add(r.record);
        if (r.alert) alerts.push({ file: f, name: r.alert, expr: String(r.expr ?? '') });
      }
    }
  }
  return { records, alerts };
}

// tests/stack/known_metrics.yaml: `sources: {<source>: {metrics: [...], not_on_endpoint: [...], ...}}` (a plain
// `<source>: [...]` map is read too). Returns name -> sources, and name -> sources that do NOT expose it.
function loadKnownMetrics(file, report) {
  const bySource = new Map();
  const absent = new Map();
  if (!fs.existsSync(file)) {
    report.error('metrics', path.relative(repo, file), 'the known-metrics list is missing: metric names cannot be checked');
    return { bySource, absent };
  }
  const doc = readYaml(file) ?? {};
  const add = (map, names, source) => {
    for (const n of Array.isArray(names) ? names : []) {
      const name = typeof n === 'string' ? n : n?.name;
      if (name) map.set(name, [...(map.get(name) ?? []), source]);
    }
  };
  for (const [source, entry] of Object.entries(doc.sources ?? doc)) {
    add(bySource, Array.isArray(entry) ? entry : entry?.metrics, source);
    add(absent, entry?.not_on_endpoint, source);
  }
  return { bySource, absent };
}

function sourceOf(name, known, records) {
  if (records.has(name)) return ['recording rule'];
  if (known.bySource.has(name)) return known.bySource.get(name);
  // A histogram or summary may be listed by family name.
  const m = /^(.*)_(bucket|count|sum)$/.exec(name);
  if (m && known.bySource.has(m[1])) return known.bySource.get(m[1]);
  return null;
}

// Alert thresholds per category, from alerts written as `<expression> > <number>` (or >=, <, <=) at the top of
// the expression or of an and/or/unless branch; a comparison nested deeper is a filter (`limit > 0`), not a
// threshold, and so is a comparison with 0 ("any at all" has no line to draw).
function alertThresholds(alerts, report) {
  const found = Object.fromEntries(Object.keys(CATEGORIES).map((c) => [c, new Set()]));
  const comparisons = new Set(['Gtr', 'Gte', 'Lss', 'Lte']);
  const setOps = new Set(['And', 'Or', 'Unless']);
  const unwrap = (n) => {
    while (n && n.name === 'ParenExpr') n = childrenOf(n).find((k) => k.name !== '(' && k.name !== ')');
    return n;
  };
  for (const a of alerts) {
    const parsed = parsePromql(a.expr);
    if (parsed.errors.length) continue;   // promtool owns the rule files; here only their numbers matter
    const visit = (node) => {
      node = unwrap(node);
      if (!node || node.name !== 'BinaryExpr') return;
      const kids = childrenOf(node);
      const op = kids.find((k) => comparisons.has(k.name) || setOps.has(k.name));
      if (!op) return;
      const left = kids[0];
      const right = kids[kids.length - 1];
      if (setOps.has(op.name)) { visit(left); visit(right); return; }
      const isNumber = (k) => unwrap(k)?.name === 'NumberDurationLiteral';
      let numberNode, exprNode;
      if (isNumber(right) && !isNumber(left)) { numberNode = unwrap(right); exprNode = left; }
      else if (isNumber(left) && !isNumber(right)) { numberNode = unwrap(left); exprNode = right; }
      else return;
      const value = Number(a.expr.slice(numberNode.from, numberNode.to));
      if (!Number.isFinite(value) || value === 0) return;
      const sub = parsePromql(a.expr.slice(exprNode.from, exprNode.to));
      for (const [cat, def] of Object.entries(CATEGORIES)) {
        if ([...sub.metrics].some((m) => def.metric.test(m))) found[cat].add(value);
      }
    };
    visit(childrenOf(parsed.tree.topNode)[0]);
  }
  const out = {};
  for (const [cat, def] of Object.entries(CATEGORIES)) {
    if (found[cat].size) {
      out[cat] = [...found[cat]].sort((x, y) => x - y);
      report.note(`${cat} threshold(s) from the alert rules: ${out[cat].join(', ')}`);
    } else if (def.contract) {
      out[cat] = def.contract;
      report.note(`${cat} threshold not found as 'expr > number' in the alert rules; using the issue's ${def.contract.join(', ')}`);
    } else {
      out[cat] = [];
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------ (3) conventions

function effectiveConfig(panel, refId) {
  const d = panel.fieldConfig?.defaults ?? {};
  const eff = { unit: d.unit, thresholds: d.thresholds };
  const single = (panel.targets ?? []).length === 1;
  for (const o of panel.fieldConfig?.overrides ?? []) {
    const { id, options } = o.matcher ?? {};
    const hit = (id === 'byFrameRefID' && options === refId)
      || (id === 'byName' && (options === `Value #${refId}` || (single && options === 'Value')));
    if (!hit) continue;
    for (const p of o.properties ?? []) {
      if (p.id === 'unit') eff.unit = p.value;
      if (p.id === 'thresholds') eff.thresholds = p.value;
    }
  }
  return eff;
}

function checkConventions(file, d, provisioned, report) {
  const expectedUid = EXPECTED_UIDS[file];
  if (expectedUid && d.uid !== expectedUid) report.error('conventions', file, `uid is "${d.uid}", expected "${expectedUid}"`);
  if (d.schemaVersion !== SCHEMA_VERSION) report.error('conventions', file, `schemaVersion ${d.schemaVersion}, expected ${SCHEMA_VERSION}`);
  if (!d.description) report.error('conventions', file, 'the dashboard has no description');
  if (!(d.tags ?? []).includes('apimeter')) report.error('conventions', file, 'tag "apimeter" missing (the dashboard links use it)');

  for (const v of d.templating?.list ?? []) {
    if (v.type === 'query' && !v.includeAll) report.error('conventions', `${file} variable $${v.name}`, 'no All option (includeAll)');
    if (v.datasource && !provisioned.has(v.datasource.uid)) {
      report.error('conventions', `${file} variable $${v.name}`, `datasource uid "${v.datasource.uid}" is not provisioned`);
    }
  }

  const ids = new Set();
  const cells = new Map();
  for (const p of panelsOf(d)) {
    const where = panelLabel(file, p);
    if (ids.has(p.id)) report.error('conventions', where, `duplicate panel id ${p.id}`);
    ids.add(p.id);
    if (!PANEL_TYPES.has(p.type)) report.error('conventions', where, `panel type "${p.type}" is not one of ${[...PANEL_TYPES].join(', ')}`);
    const g = p.gridPos;
    if (!g) report.error('conventions', where, 'no gridPos');
    else {
      if (g.x < 0 || g.w < 1 || g.x + g.w > 24) report.error('conventions', where, `gridPos exceeds the 24 columns: ${JSON.stringify(g)}`);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const other = cells.get(`${x},${y}`);
          if (other !== undefined) { report.error('conventions', where, `overlaps panel ${other}`); y = Infinity; x = Infinity; }
          else cells.set(`${x},${y}`, p.id);
        }
      }
    }
    if (p.type === 'row') continue;   // a row is a heading: the schema gives it no description or unit

    if (typeof p.description !== 'string' || p.description.trim() === '') report.error('conventions', where, 'no description');
    const units = [p.fieldConfig?.defaults?.unit];
    if (!units[0]) report.error('conventions', where, 'no unit (fieldConfig.defaults.unit)');
    for (const o of p.fieldConfig?.overrides ?? []) {
      for (const prop of o.properties ?? []) if (prop.id === 'unit') units.push(prop.value);
    }
    for (const u of units) {
      if (u && !UNITS.has(u) && !CUSTOM_UNIT.test(u)) report.error('conventions', where, `unknown Grafana unit "${u}"`);
    }
    const refs = [p.datasource, ...(p.targets ?? []).map((t) => t.datasource)];
    for (const r of refs) {
      if (!r || !provisioned.has(r.uid)) report.error('conventions', where, `datasource ${JSON.stringify(r)} is not a provisioned uid`);
      else if (r.type !== provisioned.get(r.uid)) report.error('conventions', where, `datasource uid "${r.uid}" has type "${provisioned.get(r.uid)}", not "${r.type}"`);
    }
    if (!(p.targets ?? []).length) report.error('conventions', where, 'no queries');
    const refIds = (p.targets ?? []).map((t) => t.refId);
    if (new Set(refIds).size !== refIds.length) report.error('conventions', where, `duplicate refId in ${refIds.join(', ')}`);
  }
}

function checkThresholds(exprs, thresholds, report) {
  for (const e of exprs) {
    if (e.kind !== 'target' || !e.metrics) continue;
    const eff = effectiveConfig(e.panel, e.target.refId);
    for (const [cat, def] of Object.entries(CATEGORIES)) {
      if (eff.unit !== def.unit || ![...e.metrics].some((m) => def.metric.test(m))) continue;
      const steps = (eff.thresholds?.steps ?? []).map((s) => s.value).filter((v) => typeof v === 'number');
      for (const want of thresholds[cat]) {
        if (!steps.some((v) => Math.abs(v - want) < 1e-9)) {
          report.error('thresholds', e.where, `${cat} panel: thresholds [${steps.join(', ')}] miss the alert threshold ${want}`);
        }
      }
      e.category = cat;
    }
  }
}

function checkExemplars(file, exprs, report) {
  let latency = false;
  let exemplar = false;
  for (const e of exprs) {
    if (e.kind !== 'target' || !e.metrics) continue;
    if (e.category === 'latency') latency = true;
    if (e.target.exemplar) {
      const raw = [...e.metrics].filter((m) => !m.includes(':') && m.endsWith('_bucket'));
      if (!raw.length) report.error('conventions', e.where, 'exemplar: true on a query without a raw histogram (recording rules carry no exemplars)');
      else if (e.category === 'latency' || raw.some((m) => CATEGORIES.latency.metric.test(m))) exemplar = true;
    }
  }
  if (latency && !exemplar) {
    report.error('conventions', file, 'latency panels but no target on the raw request-duration histogram with exemplar: true (no link to Jaeger)');
  }
}

// ------------------------------------------------------------------------------------------- datasources

function loadDatasources(file, report) {
  const provisioned = new Map();
  let doc;
  try { doc = readYaml(file); } catch (e) {
    report.error('datasources', path.relative(repo, file), `cannot read: ${e.message}`);
    return { provisioned, exprs: [] };
  }
  const list = doc?.datasources ?? [];
  for (const ds of list) provisioned.set(ds.uid, ds.type);
  const where = path.relative(repo, file);
  const defaults = list.filter((ds) => ds.isDefault);
  if (defaults.length !== 1 || defaults[0].type !== 'prometheus') report.error('datasources', where, 'exactly one default datasource, Prometheus, expected');
  const exprs = [];
  for (const ds of list) {
    for (const dest of ds.jsonData?.exemplarTraceIdDestinations ?? []) {
      if (!provisioned.has(dest.datasourceUid)) report.error('datasources', `${where} ${ds.uid}`, `exemplar destination uid "${dest.datasourceUid}" is not provisioned`);
    }
    const t2m = ds.jsonData?.tracesToMetrics;
    if (t2m) {
      if (!provisioned.has(t2m.datasourceUid)) report.error('datasources', `${where} ${ds.uid}`, `tracesToMetrics uid "${t2m.datasourceUid}" is not provisioned`);
      for (const q of t2m.queries ?? []) exprs.push({ where: `${where} ${ds.uid} tracesToMetrics "${q.name}"`, raw: q.query ?? '', kind: 'datasource' });
    }
  }
  const prom = list.find((ds) => ds.type === 'prometheus');
  if (!prom?.jsonData?.exemplarTraceIdDestinations?.some((d) => d.name === 'trace_id' && provisioned.get(d.datasourceUid) === 'jaeger')) {
    report.error('datasources', where, 'Prometheus has no exemplarTraceIdDestinations entry trace_id -> a Jaeger datasource');
  }
  return { provisioned, exprs };
}

// ------------------------------------------------------------------------------------------------ driver

function validate(paths) {
  const report = new Report();
  const { provisioned, exprs: dsExprs } = loadDatasources(paths.datasources, report);
  const { records, alerts } = loadRules(paths.rules, report);
  const known = loadKnownMetrics(paths.knownMetrics, report);
  const thresholds = alertThresholds(alerts, report);

  const dashboards = [];
  const files = fs.existsSync(paths.dashboards) ? fs.readdirSync(paths.dashboards).filter((f) => f.endsWith('.json')).sort() : [];
  if (!files.length) report.error('dashboards', paths.dashboards, 'no dashboards found');
  for (const f of Object.keys(EXPECTED_UIDS)) if (files.length && !files.includes(f)) report.error('dashboards', f, 'missing');
  const uids = new Map();
  for (const file of files) {
    let json;
    try { json = JSON.parse(fs.readFileSync(path.join(paths.dashboards, file), 'utf8')); } catch (e) {
      report.error('json', file, e.message);
      continue;
    }
    if (uids.has(json.uid)) report.error('conventions', file, `uid "${json.uid}" also used by ${uids.get(json.uid)}`);
    uids.set(json.uid, file);
    dashboards.push({ file, json });
  }

  checkSchema(dashboards, report);

  const allExprs = [...dsExprs];
  for (const { file, json } of dashboards) {
    checkConventions(file, json, provisioned, report);
    const defined = new Set((json.templating?.list ?? []).map((v) => v.name));
    const exprs = expressionsOf(file, json);
    for (const e of exprs) {
      if (e.kind === 'variable-unknown') { report.error('promql', e.where, `unsupported variable query: ${e.raw}`); continue; }
      const { text, used } = substituteVariables(e.raw, e.kind === 'datasource' ? { __tags: 'service="x"' } : {});
      for (const name of used) if (!defined.has(name)) report.error('promql', e.where, `template variable $${name} is not defined`);
      const parsed = parsePromql(text);
      for (const err of parsed.errors) report.error('promql', e.where, `${err.msg}:\n  ${caret(text, err.at)}`);
      for (const r of parsed.regexNames) report.error('metrics', e.where, `metric selected by regex (${r}): its names cannot be checked`);
      e.metrics = parsed.metrics;
    }
    checkThresholds(exprs, thresholds, report);
    checkExemplars(file, exprs, report);
    allExprs.push(...exprs);
  }
  for (const e of dsExprs) {
    const { text } = substituteVariables(e.raw, { __tags: 'service="x"' });
    const parsed = parsePromql(text);
    for (const err of parsed.errors) report.error('promql', e.where, `${err.msg}:\n  ${caret(text, err.at)}`);
    e.metrics = parsed.metrics;
  }

  // (4) every metric name is produced by apimeter, a listed exporter, Prometheus, or a recording rule.
  for (const e of allExprs) {
    for (const m of e.metrics ?? []) {
      const src = sourceOf(m, known, records);
      if (!src) {
        const gone = known.absent.get(m);
        const hint = m.includes(':') ? 'not a recording rule in conf/prometheus/rules/*.yml'
          : gone ? `known_metrics.yaml lists it as not on the ${gone.join(', ')} endpoint`
            : 'not in tests/stack/known_metrics.yaml';
        report.error('metrics', e.where, `unknown metric ${m} (${hint})`);
      }
    }
    if (e.kind === 'target') {
      report.inventory.push({ where: e.where, metrics: [...(e.metrics ?? [])].map((m) => `${m} [${(sourceOf(m, known, records) ?? ['?']).join(', ')}]`) });
    }
  }
  return report;
}

function print(report, verbose) {
  if (verbose) {
    for (const i of report.inventory) console.log(`${i.where}\n    ${i.metrics.join('\n    ')}`);
  }
  for (const n of report.notes) console.log(`note: ${n}`);
  for (const e of report.errors) console.error(`FAIL [${e.check}] ${e.where}: ${e.msg}`);
}

// -------------------------------------------------------------------------------------------- self-test

// Breaks copies of the dashboards one way each and proves the validator rejects every copy for that reason.
function selfTest(paths) {
  const files = fs.readdirSync(paths.dashboards).filter((f) => f.endsWith('.json')).sort();
  const load = () => Object.fromEntries(files.map((f) => [f, JSON.parse(fs.readFileSync(path.join(paths.dashboards, f), 'utf8'))]));
  const firstPanel = (d, type) => panelsOf(d).find((p) => p.type !== 'row' && (!type || p.type === type));
  const cases = [
    { name: 'unknown panel key', check: 'schema', token: 'descripton',
      mutate: (ds) => { firstPanel(ds[files[0]]).descripton = 'typo'; } },
    { name: 'unknown plugin option', check: 'schema', token: 'legendPosition',
      mutate: (ds) => { firstPanel(ds[files[0]], 'timeseries').options.legendPosition = 'bottom'; } },
    { name: 'PromQL syntax error', check: 'promql', token: 'syntax error',
      mutate: (ds) => { const t = firstPanel(ds[files[0]]).targets[0]; t.expr = `sum(rate(${t.expr}[5m]`; } },
    { name: 'missing description', check: 'conventions', token: 'no description',
      mutate: (ds) => { delete firstPanel(ds[files[0]]).description; } },
    { name: 'unknown metric', check: 'metrics', token: 'apimeter_no_such_metric_total',
      mutate: (ds) => { firstPanel(ds[files[0]]).targets[0].expr = 'sum(rate(apimeter_no_such_metric_total[5m]))'; } },
    { name: 'latency threshold off the alert', check: 'thresholds', token: 'latency',
      mutate: (ds) => {
        const p = panelsOf(ds['api-overview.json'] ?? ds[files[0]]).find((q) => q.type !== 'row' && q.fieldConfig?.defaults?.unit === 's'
          && (q.fieldConfig.defaults.thresholds?.steps ?? []).some((s) => s.value === 2));
        p.fieldConfig.defaults.thresholds.steps.forEach((s) => { if (s.value === 2) s.value = 3; });
      } },
  ];
  let ok = true;
  const base = validate(paths);
  if (base.errors.length) {
    console.error(`self-test: the unmodified dashboards already fail (${base.errors.length} errors); fix those first`);
    print(base, false);
    return false;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'apimeter-dashboards-'));
  for (const c of cases) {
    const dir = path.join(tmp, c.name.replace(/\W+/g, '-'));
    fs.mkdirSync(dir);
    const ds = load();
    c.mutate(ds);
    for (const [f, d] of Object.entries(ds)) fs.writeFileSync(path.join(dir, f), JSON.stringify(d, null, 2));
    const r = validate({ ...paths, dashboards: dir });
    const hit = r.errors.find((e) => e.check === c.check && (e.msg.includes(c.token) || e.where.includes(c.token)));
    if (hit) console.log(`self-test ok: ${c.name} -> FAIL [${hit.check}] ${hit.where}: ${hit.msg.split('\n')[0]}`);
    else {
      ok = false;
      console.error(`self-test BROKEN: ${c.name} was not rejected by the ${c.check} check; errors: ${JSON.stringify(r.errors.map((e) => e.check))}`);
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  return ok;
}

// ---------------------------------------------------------------------------------------------------- main

function main(argv) {
  const paths = { ...DEFAULTS };
  let self = false;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return path.resolve(argv[++i]); };
    if (a === '--self-test') self = true;
    else if (a === '--verbose') verbose = true;
    else if (a === '--dashboards') paths.dashboards = next();
    else if (a === '--datasources') paths.datasources = next();
    else if (a === '--rules') paths.rules = next();
    else if (a === '--known-metrics') paths.knownMetrics = next();
    else { console.error(`unknown argument ${a}`); return 2; }
  }
  if (self) return selfTest(paths) ? 0 : 1;
  const report = validate(paths);
  print(report, verbose);
  const exprCount = report.inventory.length;
  if (report.errors.length) {
    console.error(`dashboards: ${report.errors.length} problem(s)`);
    return 1;
  }
  console.log(`dashboards ok: ${exprCount} panel queries checked against @grafana/schema, the PromQL grammar and the known metrics`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
