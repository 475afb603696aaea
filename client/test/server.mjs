// A real `wspush serve` for the tests, built once per test file from the
// repository (or taken from $WSPUSH_BIN), on free loopback ports.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const clientDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let binary = null;
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

// wspushBinary builds the server once: go build -o <tmp>/wspush .. (from client/).
export function wspushBinary() {
  if (process.env.WSPUSH_BIN) return process.env.WSPUSH_BIN;
  if (!binary) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wspush-sdk-test-'));
    binary = path.join(dir, 'wspush');
    execFileSync('go', ['build', '-o', binary, '..'], { cwd: clientDir, stdio: ['ignore', 'inherit', 'inherit'] });
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return binary;
}

// freePort asks the kernel for a free loopback port.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// waitFor polls fn until it returns a truthy value (or resolves to one),
// failing after ms with what is being waited for.
export async function waitFor(what, fn, ms = 5000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}` + (last ? `: ${last.message}` : ''));
    await sleep(20);
  }
}

// Server is one `wspush serve` process on fixed ports, which restart keeps.
export class Server {
  constructor(args = []) {
    this.args = args;
    this.log = '';
  }

  async start() {
    if (!this.port) {
      this.port = await freePort();
      this.apiPort = await freePort();
    }
    this.wsUrl = `ws://127.0.0.1:${this.port}/ws`;
    this.apiUrl = `http://127.0.0.1:${this.apiPort}`;
    const args = ['serve', '--addr', `127.0.0.1:${this.port}`, '--api-addr', `127.0.0.1:${this.apiPort}`,
      '--loops', '1', '--log-format', 'text', '--log-level', 'warn', ...this.args];
    const p = spawn(wspushBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(p);
    p.stderr.on('data', (b) => { this.log += b; });
    p.exited = new Promise((resolve) => p.on('exit', (code, sig) => { children.delete(p); resolve(code ?? sig); }));
    this.proc = p;
    await waitFor(`wspush serve on ${this.apiUrl}\n${this.log}`, async () => {
      if (p.exitCode !== null) throw new Error(`wspush exited ${p.exitCode}: ${this.log}`);
      return (await fetch(this.apiUrl + '/healthz')).ok;
    }, 10000);
    return this;
  }

  // stop ends the process: SIGTERM is a graceful shutdown (disconnect
  // 4000 going_away), SIGKILL a crash.
  async stop(signal = 'SIGTERM') {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode) return;
    this.proc.kill(signal);
    await this.proc.exited;
  }

  async restart(signal = 'SIGKILL') {
    await this.stop(signal);
    await this.start();
  }

  // api calls the HTTP API and returns the decoded answer.
  async api(method, path, body) {
    const rsp = await fetch(this.apiUrl + path, {
      method,
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined
    });
    const text = await rsp.text();
    if (!rsp.ok) throw new Error(`${method} ${path}: ${rsp.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  push(users, data) { return this.api('POST', '/v1/push', { users, data }); }
  publish(room, data) { return this.api('POST', `/v1/rooms/${encodeURIComponent(room)}/publish`, { data }); }
  kick(user) { return this.api('DELETE', `/v1/users/${encodeURIComponent(user)}/connections`); }
  user(user) { return this.api('GET', `/v1/users/${encodeURIComponent(user)}`); }
}

// chromiumPath is the browser the browser tests drive (Debian's chromium).
export const chromiumPath = process.env.WSPUSH_CHROMIUM || '/usr/bin/chromium';

// launchChromium starts headless chromium through playwright-core with a
// new, empty profile (--user-data-dir, which playwright takes as the first
// argument of a persistent context) and flags without which chromium's own
// background connections fail slowly on a machine without internet. It
// returns the context and close(), which also removes the profile.
export async function launchChromium(options = {}) {
  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wspush-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ...options
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  };
}
