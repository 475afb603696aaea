// End to end in a real browser: Debian's chromium, driven by playwright-core,
// opens the demo page that `wspush serve` serves at /demo/ in two tabs; the
// tabs chat through a room, and a push from the HTTP API shows up in a page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Server, clientDir, chromiumPath, launchChromium } from './server.mjs';

const artifacts = path.join(clientDir, 'test-artifacts');
const skip = process.env.WSPUSH_SKIP_BROWSER === '1';

let chromium = null;
let browser = null; // chromium's context
let server = null;
after(async () => {
  if (chromium) await chromium.close();
  if (server) await server.stop('SIGKILL');
});

// launch starts chromium once for the file.
async function launch() {
  if (browser) return browser;
  chromium = await launchChromium({ viewport: { width: 640, height: 480 } });
  browser = chromium.context;
  return browser;
}

// sdkPage opens a blank page with wspush.js loaded and window.track(c),
// which records a client's events in window.ev and counts the sockets
// it opens in window.sockets.
async function sdkPage() {
  const ctx = await launch();
  const p = await ctx.newPage();
  p.errors = [];
  p.on('pageerror', (e) => p.errors.push(e.message));
  await p.addScriptTag({ path: path.join(clientDir, 'wspush.js') });
  await p.evaluate(() => {
    window.sockets = 0;
    window.CountingWebSocket = class extends WebSocket {
      constructor(url, protocols) { super(url, protocols); window.sockets++; }
    };
    window.ev = { open: 0, disconnect: [], refreshed: [], state: [], error: [] };
    window.track = (c) => {
      c.on('open', () => { window.ev.open++; });
      c.on('disconnect', (d) => window.ev.disconnect.push(d));
      c.on('refreshed', (r) => window.ev.refreshed.push(r));
      c.on('state', (st, info) => window.ev.state.push({ s: st, ...info }));
      c.on('error', (e) => window.ev.error.push(e.code));
      window.client = c;
      return c;
    };
  });
  return p;
}

const waitIn = (p, what, fn, arg, timeout = 10000) => p.waitForFunction(fn, arg, { timeout, polling: 20 }).catch((e) => {
  throw new Error(`waiting for ${what}: ${e.message}`);
});

test('two browser tabs chat through a room, and an API push shows up', { skip: skip && 'WSPUSH_SKIP_BROWSER=1' }, async () => {
  assert.ok(fs.existsSync(chromiumPath),
    `no chromium at ${chromiumPath}: run the README's test command (make test, or make deps: apt-get install chromium), ` +
    'or set WSPUSH_SKIP_BROWSER=1 to skip this test');
  server = await new Server().start(); // development mode: the demo is served
  const ctx = await launch();
  const page = async (user) => {
    const p = await ctx.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await p.goto(`${server.apiUrl}/demo/?user=${user}&room=lobby&ws=${encodeURIComponent(server.wsUrl)}`);
    await p.locator('#state[data-state="open"]').waitFor({ timeout: 10000 });
    await p.locator('#messages li', { hasText: `connected as ${user}` }).waitFor();
    p.errors = errors;
    return p;
  };
  const alice = await page('alice');
  const bob = await page('bob');
  // Both joined: a room publish reaches two connections.
  for (let i = 0; i < 50 && (await server.publish('lobby', { text: 'welcome, both' })).delivered < 2; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await bob.locator('#messages li', { hasText: 'welcome, both' }).first().waitFor();

  await alice.fill('#text', 'hello from alice');
  await alice.press('#text', 'Enter');
  await bob.locator('#messages li.room', { hasText: 'hello from alice' }).waitFor();
  assert.match(await bob.locator('#messages li.room', { hasText: 'hello from alice' }).innerText(), /alice:/);
  await alice.locator('#messages li.mine', { hasText: 'hello from alice' }).waitFor();

  await bob.fill('#text', 'hi alice, bob here');
  await bob.click('button[type=submit]');
  await alice.locator('#messages li.room', { hasText: 'hi alice, bob here' }).waitFor();

  const res = await server.push(['alice'], { text: 'a push from the API' });
  assert.equal(res.delivered, 1);
  await alice.locator('#messages li.push', { hasText: 'a push from the API' }).waitFor();
  assert.equal(await bob.locator('#messages li.push').count(), 0, 'the push went to alice only');

  // The ES module entry works natively in a browser too.
  assert.equal(await alice.evaluate(async () => {
    const m = await import('./wspush.mjs');
    return typeof m.WsPush === 'function' && m.default === m.WsPush && m.Disconnects.length > 0;
  }), true);

  fs.mkdirSync(artifacts, { recursive: true });
  await alice.screenshot({ path: path.join(artifacts, 'browser-alice.png') });
  await bob.screenshot({ path: path.join(artifacts, 'browser-bob.png') });
  assert.deepEqual([...alice.errors, ...bob.errors], [], 'no page errors');
});

test('offline in the browser: no retry; online: one attempt at once', { skip: skip && 'WSPUSH_SKIP_BROWSER=1' }, async () => {
  const srv = await new Server(['--ping-interval', '1s']).start();
  try {
    const p = await sdkPage();
    await p.evaluate((url) => {
      window.track(new WsPush({ url, user: 'offline', adapter: WsPush.adapters.browser(window.CountingWebSocket), minDelay: 2000, maxDelay: 4000 })).connect();
    }, srv.wsUrl);
    await waitIn(p, 'open', () => window.ev.open === 1);
    await browser.setOffline(true); // fires the page's offline event
    await waitIn(p, 'navigator.onLine false', () => navigator.onLine === false);
    await srv.restart('SIGKILL');
    await waitIn(p, 'the loss', () => window.client.state === 'reconnecting');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await p.evaluate(() => window.sockets), 1, 'no attempt while offline');
    assert.equal(await p.evaluate(() => window.ev.state.at(-1).waiting), 'offline');
    await browser.setOffline(false);
    await waitIn(p, 'open again', () => window.ev.open === 2, undefined, 1500); // before minDelay's backoff
    assert.equal(await p.evaluate(() => window.sockets), 2, 'exactly one attempt');
    assert.deepEqual(p.errors, []);
    await p.close();
  } finally {
    await browser.setOffline(false);
    await srv.stop('SIGKILL');
  }
});

test('in the browser, a token about to expire is refreshed in-band, without a reconnect', { skip: skip && 'WSPUSH_SKIP_BROWSER=1' }, async () => {
  const secret = crypto.randomBytes(24).toString('hex');
  const srv = await new Server(['--jwt-secret', secret]).start();
  try {
    const p = await sdkPage();
    const reasons = [];
    await p.exposeFunction('nodeToken', (reason) => {
      reasons.push(reason);
      const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sub: 'rita', exp: Math.floor(Date.now() / 1000) + 3 });
      return head + '.' + crypto.createHmac('sha256', secret).update(head).digest('base64url');
    });
    await p.evaluate((url) => {
      window.track(new WsPush({ url, adapter: WsPush.adapters.browser(window.CountingWebSocket), token: (ctx) => window.nodeToken(ctx.reason) })).connect();
    }, srv.wsUrl);
    await waitIn(p, 'open', () => window.ev.open === 1);
    const firstExp = await p.evaluate(() => window.client.welcome.exp);
    assert.ok(firstExp > 0, 'the welcome carries exp');
    await waitIn(p, 'two refreshes past the first exp', (exp) => window.ev.refreshed.length >= 2 && Date.now() > exp + 1000, firstExp);
    assert.equal(await p.evaluate(() => window.sockets), 1, 'one socket all along');
    assert.deepEqual(await p.evaluate(() => window.ev.disconnect), []);
    assert.equal(await p.evaluate(() => window.client.state), 'open');
    assert.deepEqual(reasons.slice(0, 3), ['initial', 'refresh', 'refresh']);
    assert.deepEqual(p.errors, []);
    await p.close();
  } finally {
    await srv.stop('SIGKILL');
  }
});

test('a browser sees a refused token in-band with auth=inband, and only a bare 1006 without', { skip: skip && 'WSPUSH_SKIP_BROWSER=1' }, async () => {
  const srv = await new Server(['--jwt-secret', crypto.randomBytes(24).toString('hex')]).start();
  try {
    const p = await sdkPage();
    const seen = await p.evaluate((url) => Promise.all(['?auth=inband&token=a.b.c', '?token=a.b.c'].map((q) => new Promise((resolve) => {
      const msgs = [];
      const ws = new WebSocket(url + q);
      ws.onmessage = (e) => msgs.push(JSON.parse(e.data));
      ws.onclose = (e) => resolve({ code: e.code, msgs });
    }))), srv.wsUrl);
    assert.equal(seen[0].code, 4503);
    assert.deepEqual(seen[0].msgs.map((m) => [m.type, m.code, m.reconnect]), [['disconnect', 4503, false]]);
    assert.deepEqual(seen[1], { code: 1006, msgs: [] }, 'a 401 is only an abnormal closure to the page');
    await p.close();
  } finally {
    await srv.stop('SIGKILL');
  }
});
