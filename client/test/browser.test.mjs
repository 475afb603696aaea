// End to end in a real browser: Debian's chromium, driven by playwright-core,
// opens the demo page that `wspush serve` serves at /demo/ in two tabs; the
// tabs chat through a room, and a push from the HTTP API shows up in a page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Server, clientDir } from './server.mjs';

const chromiumPath = process.env.WSPUSH_CHROMIUM || '/usr/bin/chromium';
const artifacts = path.join(clientDir, 'test-artifacts');
const skip = process.env.WSPUSH_SKIP_BROWSER === '1';

let browser = null;
let server = null;
let profile = null;
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop('SIGKILL');
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

test('two browser tabs chat through a room, and an API push shows up', { skip: skip && 'WSPUSH_SKIP_BROWSER=1' }, async () => {
  assert.ok(fs.existsSync(chromiumPath),
    `no chromium at ${chromiumPath}: run the README's test command (make test, or make deps: apt-get install chromium), ` +
    'or set WSPUSH_SKIP_BROWSER=1 to skip this test');
  const { chromium } = await import('playwright-core');
  server = await new Server().start(); // development mode: the demo is served
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wspush-chromium-'));
  // A new empty profile (--user-data-dir, which playwright takes as the
  // first argument here), and flags without which chromium's own background
  // connections fail slowly on a machine without internet.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 640, height: 480 }
  });
  const ctx = browser;
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
