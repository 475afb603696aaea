// The operator console in a real browser: Debian's chromium through
// playwright-core against a real two-node cluster on a real redis-server
// (docs/console.md). It logs in (a wrong key refused, the read-only key
// unable to push or kick), sees both nodes and the overview's chart move,
// finds a user among 5,000 connections by prefix with paging, pushes to
// it from the user page and a Node ws client receives it, kicks it and
// the client reads the reason, does the same to a user on the other node,
// and sees the live tail show the connect and the push. It writes a
// screenshot of each page to client/test-artifacts/, or, with
// WSPUSH_SCREENSHOTS=1, to docs/images/console-*.png (the README's and
// docs/console.md's pictures), so that a test run leaves the tree as it was.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { Server, clientDir, launchChromium, waitFor } from './server.mjs';

const KEY = 'console-test-api-key-0123456789';
const RO = 'console-test-readonly-key-98765';
const CONNS = 5000; // background connections, besides the ones the test looks for: 4,000 on node a, 1,000 on b
const images = process.env.WSPUSH_SCREENSHOTS === '1' ? path.join(clientDir, '..', 'docs', 'images') : path.join(clientDir, 'test-artifacts');

fs.mkdirSync(images, { recursive: true });

let chromium = null;
let server = null; // node a, whose console the test uses
let nodeB = null;
let redis = null;
const sockets = [];
after(async () => {
  for (const s of sockets) s.terminate();
  if (chromium) await chromium.close();
  if (server) await server.stop('SIGKILL');
  if (nodeB) await nodeB.stop('SIGKILL');
  if (redis) redis.kill('SIGKILL');
});

// startRedis runs a redis-server on a free loopback port, saving nothing.
async function startRedis() {
  const port = await new Promise((resolve) => {
    const l = net.createServer().listen(0, '127.0.0.1', () => { const p = l.address().port; l.close(() => resolve(p)); });
  });
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitFor('redis-server to listen', () => new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
    c.on('error', () => resolve(false));
  }), 10000);
  return `redis://127.0.0.1:${port}/0`;
}

function connect(user, node = server) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${node.wsUrl}?user=${encodeURIComponent(user)}&platform=node&sdk=ws-8`);
    ws.msgs = [];
    ws.on('message', (m) => ws.msgs.push(JSON.parse(m.toString())));
    ws.on('close', (code, reason) => { ws.closed = { code, reason: reason.toString() }; });
    ws.on('error', reject);
    ws.on('open', () => { sockets.push(ws); resolve(ws); });
  });
}

async function login(page, key) {
  await page.goto(server.apiUrl + '/console/');
  await page.waitForSelector('#loginKey');
  await page.fill('#loginKey', key);
  await page.click('#loginForm button[type=submit]');
}

test('the console, end to end in chromium', { timeout: 180000 }, async () => {
  const url = await startRedis();
  const common = ['--api-key', KEY, '--console-readonly-key', RO, '--max-rate', '-1', '--redis', url, '--history-size', '10', '--history-ttl', '5m'];
  server = await new Server(common).start();
  nodeB = await new Server(common).start();
  for (let i = 0; i < CONNS; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(i + 100, CONNS); j++) batch.push(connect('load-' + String(j).padStart(5, '0'), j < 4000 ? server : nodeB));
    await Promise.all(batch);
  }
  const remote = await connect('zed-remote', nodeB);
  const otherB = await connect('zed-other-b', nodeB);
  chromium = await launchChromium({ viewport: { width: 1280, height: 860 }, locale: 'en-US' });
  const page = await chromium.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const outside = [];
  page.on('request', (r) => { if (!r.url().startsWith(server.apiUrl)) outside.push(r.url()); });
  page.on('response', async (r) => { if (process.env.DEBUG_CONSOLE && r.url().includes('connections')) console.log(r.status(), r.url(), (await r.text()).slice(0, 300)); });

  // A wrong key is refused, and says so.
  await login(page, 'not-the-key');
  await page.waitForFunction(() => document.querySelector('#loginErr').textContent.length > 0);
  assert.match(await page.textContent('#loginErr'), /wrong/);
  assert.ok(!page.url().includes('not-the-key'));

  // The read-only key: the page disables the actions, and the API refuses them.
  await login(page, RO);
  await page.waitForSelector('#nav-user');
  assert.match(await page.textContent('#who'), /read-only/);
  await page.goto(server.apiUrl + '/console/#/user/load-00001');
  await page.waitForSelector('#userSend');
  assert.equal(await page.isDisabled('#userSend'), true);
  assert.equal(await page.isDisabled('#kickBtn'), true);
  const refused = await page.evaluate(async () => {
    const s = await (await fetch('/console/api/session')).json();
    const out = [];
    for (const p of ['users/load-00001/push', 'users/load-00001/kick']) {
      const r = await fetch('/console/api/' + p, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf }, body: '{"data":1}' });
      out.push(r.status);
    }
    return out;
  });
  assert.deepEqual(refused, [403, 403]);
  await page.click('#logout');
  await page.waitForSelector('#loginKey');

  // The admin: the overview's charts move.
  await login(page, KEY);
  await page.waitForSelector('#stats .stat');
  await page.waitForFunction((n) => document.querySelector('#stats').textContent.includes(String(n)), 4000);
  // Both nodes, from their heartbeats through Redis.
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#nodeTable tbody tr')].map((r) => r.textContent);
    return rows.length === 2 && rows.some((r) => r.includes('★') && r.includes('4000')) && rows.some((r) => r.includes('1002'));
  });
  const pixels = () => page.evaluate(() => [...document.querySelectorAll('.charts canvas')].map((c) => c.toDataURL()).join());
  const before = await pixels();
  await waitFor('the overview chart to move', async () => (await pixels()) !== before, 8000);

  // The live tail, in a second tab, open before the target connects.
  const tailPage = await chromium.context.newPage();
  await tailPage.goto(server.apiUrl + '/console/#/tail');
  await tailPage.waitForSelector('#tailList');
  await tailPage.waitForTimeout(500);
  const target = await connect('zed-target-7');
  await new Promise((r) => setTimeout(r, 200));

  // Connections: prefix search and paging.
  await page.goto(server.apiUrl + '/console/#/connections');
  await page.waitForSelector('#prefix');
  await page.fill('#prefix', 'load-001');
  await page.click('#searchBtn');
  await page.waitForFunction(() => document.querySelector('#connList tbody tr td:nth-child(2)')?.textContent === 'load-00100');
  const firstPage = await page.$$eval('#connList tbody tr td:nth-child(2)', (tds) => tds.map((t) => t.textContent));
  assert.equal(firstPage.length, 25);
  assert.ok(firstPage.every((u) => u.startsWith('load-001')));
  await page.screenshot({ path: path.join(images, 'console-connections.png') });
  await page.click('#nextPage');
  await page.waitForFunction(() => document.querySelector('#connList tbody tr td:nth-child(2)')?.textContent === 'load-00125', null, { timeout: 10000 })
    .catch(async (e) => { await page.screenshot({ path: '/tmp/console-fail.png' }); throw e; });
  await page.fill('#prefix', 'zed-');
  await page.click('#searchBtn');
  // The page is the cluster's: node b's connections are in it, in user
  // order, and one of them disconnects from node a's console.
  const zedRows = () => page.$$eval('#connList tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  await waitFor('the cluster-wide page', async () => (await zedRows()).map((r) => r[1]).join() === 'zed-other-b,zed-remote,zed-target-7', 10000);
  const rows = await zedRows();
  assert.equal(rows[0][2], rows[1][2]);
  assert.notEqual(rows[0][2], rows[2][2]);
  assert.ok(rows.every((r) => r[0] === r[0].split('@')[0] + '@' + r[2]), 'each row shows its ref, c<id>@<node>');
  assert.ok(!/did not answer/.test(await page.textContent('#pageInfo')));
  await page.click('#connList tbody tr:nth-child(1)');
  await page.waitForSelector('#discReason');
  await page.fill('#discReason', 'closed from node a');
  await page.click('#discBtn');
  await waitFor('node b\'s client to close', () => otherB.closed);
  assert.equal(otherB.closed.code, 4500);
  assert.equal(otherB.closed.reason, 'closed from node a');
  await page.click('#connList tbody tr:nth-child(3)');
  await page.waitForFunction(() => /zed-target-7/.test(document.querySelector('#detail h2')?.textContent || ''));
  await page.screenshot({ path: path.join(images, 'console-connection.png') });

  // The user page: push to the user, and the Node ws client gets it.
  await page.goto(server.apiUrl + '/console/#/user/zed-target-7');
  await page.waitForSelector('#userSend');
  assert.equal(await page.textContent('#presence'), 'online');
  await page.fill('#userData', '{"type":"test","text":"from the console"}');
  await page.click('#userSend');
  await waitFor('the push to reach the ws client', () => target.msgs.some((m) => m.type === 'push' && m.data?.text === 'from the console'));
  await page.waitForSelector('#userOut:not([hidden])');

  // The tail shows the connect and the push.
  await waitFor('the tail to show the connect and the push', async () => {
    const t = await tailPage.textContent('#tailList');
    return /connect .*user=zed-target-7/.test(t) && /push .*user=zed-target-7/.test(t);
  }, 8000);
  await tailPage.screenshot({ path: path.join(images, 'console-tail.png') });

  // Kick, with a reason the client reads in its close frame.
  await page.fill('#kickReason', 'support: please update the app');
  await page.click('#kickBtn');
  await waitFor('the kick to close the client', () => target.closed);
  assert.equal(target.closed.code, 4500);
  assert.equal(target.closed.reason, 'support: please update the app');
  const disc = target.msgs.find((m) => m.type === 'disconnect');
  assert.equal(disc.reason, 'support: please update the app');
  await page.reload();
  await page.waitForSelector('#recent tbody tr');
  assert.match(await page.textContent('#recent'), /kicked/);
  assert.match(await page.textContent('#recent'), /support: please update the app/);
  assert.match(await page.textContent('#history'), /from the console/);
  await page.screenshot({ path: path.join(images, 'console-user.png'), fullPage: true });

  // A user on the other node: online through Redis, the push and the
  // kick with its reason go through the cluster.
  await page.goto(server.apiUrl + '/console/#/user/zed-remote');
  await page.waitForSelector('#userSend');
  assert.equal(await page.textContent('#presence'), 'online');
  assert.match(await page.textContent('#userNodes'), /\(1\)/); // on node b, named from Redis
  await page.fill('#userData', '{"type":"test","text":"across the cluster"}');
  await page.click('#userSend');
  await waitFor('the push to reach the client on node b', () => remote.msgs.some((m) => m.type === 'push' && m.data?.text === 'across the cluster'));
  await page.fill('#kickReason', 'moved to another account');
  await page.click('#kickBtn');
  await waitFor('the kick to close the client on node b', () => remote.closed);
  assert.equal(remote.closed.code, 4500);
  assert.equal(remote.closed.reason, 'moved to another account');

  // Every other page, for the docs; then the overview last, its chart grown.
  const auth = { 'Authorization': 'Bearer ' + KEY, 'Content-Type': 'application/json' };
  for (const [room, n] of [['lobby', 40], ['news', 12], ['vip', 3]]) {
    const users = Array.from({ length: n }, (_, i) => 'load-' + String(i * 7).padStart(5, '0'));
    const r = await fetch(server.apiUrl + '/v1/rooms/' + room + '/members', { method: 'POST', headers: auth, body: JSON.stringify({ users }) });
    assert.equal(r.status, 200);
  }
  await page.goto(server.apiUrl + '/console/#/rooms');
  await page.waitForFunction(() => /lobby/.test(document.querySelector('#roomList')?.textContent || ''));
  await page.screenshot({ path: path.join(images, 'console-rooms.png') });
  await page.goto(server.apiUrl + '/console/#/rooms/lobby');
  await page.waitForFunction(() => /load-00007/.test(document.querySelector('#roomUsers')?.textContent || ''));
  await page.screenshot({ path: path.join(images, 'console-room.png') });
  for (const p of ['push', 'webhook', 'audit', 'config']) {
    await page.goto(server.apiUrl + '/console/#/' + p);
    await page.waitForTimeout(600);
    await page.screenshot({ path: path.join(images, 'console-' + p + '.png') });
  }
  assert.match(await page.textContent('#configText'), /api-key: "<redacted>"/);
  assert.ok(!(await page.content()).includes(KEY));
  await page.goto(server.apiUrl + '/console/#/audit');
  await page.waitForSelector('#auditTable tbody tr');
  assert.match(await page.textContent('#auditTable'), /kick/);
  // Some pushes through the HTTP API, for the latency chart.
  await page.goto(server.apiUrl + '/console/#/overview');
  await page.waitForSelector('#stats .stat');
  for (let i = 0; i < 30; i++) {
    const r = await fetch(server.apiUrl + '/v1/broadcast', { method: 'POST', headers: { 'Authorization': 'Bearer ' + KEY, 'Content-Type': 'application/json' }, body: '{"data":{"n":' + i + '}}' });
    assert.equal(r.status, 200);
    await new Promise((res) => setTimeout(res, 100));
  }
  await page.waitForTimeout(2000);
  await page.screenshot({ path: path.join(images, 'console-overview.png') });

  // In Chinese, from the switch.
  await page.selectOption('#lang', 'zh');
  await page.waitForFunction(() => document.querySelector('#nav-overview').textContent === '总览');
  await page.waitForTimeout(1500);
  await page.screenshot({ path: path.join(images, 'console-overview-zh.png') });

  assert.deepEqual(outside, [], 'the console made requests off its own origin');
  assert.deepEqual(errors, []);
  assert.ok(!server.log.includes(KEY), 'the key is in the server log');
  assert.ok(!server.log.includes(RO), 'the read-only key is in the server log');
  assert.ok(!nodeB.log.includes(KEY), 'the key is in node b\'s log');
});
