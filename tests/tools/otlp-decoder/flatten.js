// Test-only: decodes the OTLP protobuf body in the file named by argv[2] with decode.js (the OpenTelemetry
// project's own decoder) and prints it as tab-separated lines, for C++ tests that have no JSON parser.
// It does no decoding of its own. Fields are escaped (\\ \t \n \r) so that a line never holds a stray tab.
//   resource                                   a ResourceSpans begins
//   rattr  key type value                      one resource attribute (type: string|int|bool|double|other)
//   scope  name version                        a ScopeSpans begins
//   span   traceId spanId parentSpanId kind startTimeUnixNano endTimeUnixNano flags traceState name
//   attr   key type value                      one attribute of the span above
//   event  name timeUnixNano                   one event of the span above
//   status code message                        the status of the span above (absent when unset)
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const escape = (value) =>
  String(value ?? '').replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
const line = (...fields) => process.stdout.write(fields.map(escape).join('\t') + '\n');

function typed(any) {
  if (!any) return ['other', ''];
  if ('stringValue' in any) return ['string', any.stringValue];
  if ('intValue' in any) return ['int', any.intValue];
  if ('boolValue' in any) return ['bool', any.boolValue ? 'true' : 'false'];
  if ('doubleValue' in any) return ['double', any.doubleValue];
  return ['other', JSON.stringify(any)];
}

let json;
try {
  const body = fs.readFileSync(process.argv[2]);
  json = JSON.parse(execFileSync(process.execPath, [path.join(__dirname, 'decode.js')], { input: body }));
} catch (e) {
  process.stderr.write(`flatten: ${e.message}\n`);
  process.exit(1);
}

for (const rs of json.resourceSpans || []) {
  line('resource');
  for (const kv of (rs.resource && rs.resource.attributes) || []) line('rattr', kv.key, ...typed(kv.value));
  for (const ss of rs.scopeSpans || []) {
    line('scope', (ss.scope && ss.scope.name) || '', (ss.scope && ss.scope.version) || '');
    for (const s of ss.spans || []) {
      line('span', s.traceId, s.spanId, s.parentSpanId || '', s.kind || '', s.startTimeUnixNano || '0',
           s.endTimeUnixNano || '0', s.flags || 0, s.traceState || '', s.name || '');
      for (const kv of s.attributes || []) line('attr', kv.key, ...typed(kv.value));
      for (const e of s.events || []) line('event', e.name || '', e.timeUnixNano || '0');
      if (s.status && s.status.code) line('status', s.status.code, s.status.message || '');
    }
  }
}
