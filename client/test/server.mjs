// A real `wspush serve` for the tests, built once per test file from the
// repository (or taken from $WSPUSH_BIN), on loopback ports the kernel
// picks when the server binds port 0.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
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

// holders says which sockets hold addr's port, as ss sees them, for the
// error of a restart that could not bind it again.
function holders(addr) {
  const port = addr.slice(addr.lastIndexOf(':') + 1);
  try {
    return execFileSync('ss', ['-tanp', `sport = :${port}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    return `(ss -tanp 'sport = :${port}' failed: ${e.message})`;
  }
}

// Server is one `wspush serve` process. Its first start binds both
// listeners on 127.0.0.1:0 and reads the ports the kernel gave from the
// start line; restart binds those same ports again, so that a client's URL
// stays valid across the restart (the reconnect tests need that).
//
// The ports are ours on a restart: only the stopped child held them, stop()
// waits for it to exit, and the server sets SO_REUSEADDR, so its closed
// connections in TIME_WAIT do not hold them. Someone else can still take one
// while the server is down, since it is back in the ephemeral range: an
// outgoing connection's local port, or another process's port-0 listener.
// restart then tries again for rebindFor ms (default 3000: an outgoing
// connection is usually short-lived) and after that fails, saying which
// port was taken and by what, rather than leave a test to time out against
// a server that never came back.
export class Server {
  constructor(args = [], { rebindFor = 3000 } = {}) {
    this.args = args;
    this.rebindFor = rebindFor;
    this.log = '';
  }

  async start() {
    const first = !this.addr;
    const end = Date.now() + this.rebindFor;
    for (;;) {
      try {
        await this.spawn(first ? '127.0.0.1:0' : this.addr, first ? '127.0.0.1:0' : this.apiAddr);
        break;
      } catch (e) {
        if (first || !e.addrInUse) throw e;
        if (Date.now() > end) throw new Error(`restart: ${e.addrInUse}, which the first start bound, has been taken by another socket ` +
          `since the server stopped, and was still taken after ${this.rebindFor} ms (a restart keeps its ports so that clients' ` +
          `URLs stay valid):\n${holders(e.addrInUse)}\n${e.message}`);
        await sleep(100);
      }
    }
    this.wsUrl = `ws://${this.addr}/ws`;
    this.apiUrl = `http://${this.apiAddr}`;
    return this;
  }

  // spawn starts one child on addr and apiAddr and resolves once it logs
  // its start line ("wspush serving", JSON on stderr: level info is
  // needed), taking the bound addresses from it. A child that exits first
  // rejects with its log and, when a listener's address was in use,
  // e.addrInUse naming that address.
  spawn(addr, apiAddr) {
    const args = ['serve', '--addr', addr, '--api-addr', apiAddr,
      '--loops', '1', '--log-format', 'json', '--log-level', 'info', ...this.args];
    const p = spawn(wspushBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(p);
    p.exited = new Promise((resolve) => p.on('exit', (code, sig) => { children.delete(p); resolve(code ?? sig); }));
    this.proc = p;
    const log = [];
    return new Promise((resolve, reject) => {
      let partial = '';
      let started = false;
      const timer = setTimeout(() => {
        p.kill('SIGKILL');
        reject(new Error(`no start line from wspush ${args.join(' ')} after 10 s:\n${log.join('')}`));
      }, 10000);
      p.stderr.setEncoding('utf8');
      p.stderr.on('data', (text) => {
        this.log += text;
        log.push(text);
        const lines = (partial + text).split('\n');
        partial = lines.pop();
        for (const line of lines) {
          if (started) continue;
          let rec;
          try {
            rec = JSON.parse(line);
          } catch {
            continue; // the error line on exit is plain text
          }
          if (rec.msg !== 'wspush serving') continue;
          started = true;
          clearTimeout(timer);
          this.addr = rec.addr;
          this.apiAddr = rec.api_addr;
          resolve();
        }
      });
      p.exited.then((code) => {
        if (started) return;
        clearTimeout(timer);
        const text = log.join('');
        const e = new Error(`wspush ${args.join(' ')} exited ${code} before its start line:\n${text}`);
        const taken = /listen (?:tcp |on )?(\S+): bind: address already in use/.exec(text);
        if (taken) e.addrInUse = taken[1];
        reject(e);
      });
    });
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
