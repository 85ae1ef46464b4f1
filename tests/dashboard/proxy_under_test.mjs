// The processes the dashboard test drives: the demo upstream and apimeter, each on 127.0.0.1 port 0, found
// from the lines they print, stopped by PID when the test ends. No fixed port, no sleep as synchronisation.
import {spawn} from 'node:child_process';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {createInterface} from 'node:readline';

const buildDir = process.env.APIMETER_BUILD_DIR;
if (!buildDir) throw new Error('APIMETER_BUILD_DIR must name the build tree (ctest sets it)');
export const apimeterBinary = join(buildDir, 'proxy', 'apimeter');
const upstreamBinary = join(buildDir, 'tests', 'support', 'demo_upstream');

// Resolves with the first line `match` accepts, within `timeoutMs`; rejects when the process exits first.
function waitForLine(child, stream, match, what, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({input: stream});
    const seen = [];
    const timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs} ms; saw:\n${seen.join('\n')}`)), timeoutMs);
    lines.on('line', (line) => {
      seen.push(line);
      const found = match(line);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what}: exited with ${code} first; saw:\n${seen.join('\n')}`));
    });
  });
}

// Signals `child` and resolves once it has exited (at once when it already has).
function stopChild(child, signal) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

// apimeter reads APIMETER_* variables and refuses unknown ones: its children get none of the test's.
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APIMETER_')));

export class ProxyUnderTest {
  // `config` is the YAML text of apimeter's config, without upstreams (added here).
  static async start(config) {
    const self = new ProxyUnderTest();
    self.dir = mkdtempSync(join(tmpdir(), 'apimeter-dashboard-'));
    self.upstream = spawn(upstreamBinary, ['--listen', '127.0.0.1:0', '--quiet'], {stdio: ['ignore', 'pipe', 'inherit'], env: childEnv});
    const upstreamPort = await waitForLine(self.upstream, self.upstream.stdout,
        (line) => line.match(/^listening 127\.0\.0\.1:(\d+)$/)?.[1], 'demo upstream');
    const path = join(self.dir, 'apimeter.yaml');
    writeFileSync(path, `${config}\nupstreams: [127.0.0.1:${upstreamPort}]\n`);
    self.proxy = spawn(apimeterBinary, ['--config', path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'],
                       {stdio: ['ignore', 'ignore', 'pipe'], env: childEnv});
    const event = await waitForLine(self.proxy, self.proxy.stderr, (line) => {
      try {
        const e = JSON.parse(line);
        return e.message === 'listening' ? e : null;
      } catch {
        return null;
      }
    }, 'apimeter');
    self.proxyPort = Number(event['apimeter.listen'].split(':').pop());
    self.adminPort = Number(event['apimeter.admin'].split(':').pop());
    self.origin = `http://127.0.0.1:${self.adminPort}`;
    self.proxy.stderr.resume();
    return self;
  }

  // One request through the proxy; resolves with the status.
  async send(path, {method = 'GET', user, body} = {}) {
    const headers = user ? {'X-User-Id': user} : {};
    const response = await fetch(`http://127.0.0.1:${this.proxyPort}${path}`, {method, headers, body});
    await response.arrayBuffer();
    return response.status;
  }

  async stats() {
    const response = await fetch(`${this.origin}/stats`);
    if (!response.ok) throw new Error(`/stats answered ${response.status}`);
    return response.json();
  }

  // Stops apimeter only (the page's error state); resolves once it has exited.
  stopProxy() {
    return stopChild(this.proxy, 'SIGKILL');
  }

  async stop() {
    await this.stopProxy();
    await stopChild(this.upstream, 'SIGTERM');
  }
}
