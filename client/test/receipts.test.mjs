// Delivery receipts through the SDK over a fake `wx` global (platforms.mjs:
// SocketTasks backed by the ws package, the app's onAppHide and the socket
// that dies in the background as the WeChat docs cited there describe)
// against a real `wspush serve`, whose webhook is a Node HTTP server here
// that checks every signature as docs/webhook.md tells backends to.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { WsPush } from 'wspush';
import { Server, waitFor, sleep } from './server.mjs';
import { FakeWx } from './fakewx.mjs';

const secret = 'receipts-secret';
const events = [];
const bad = [];
const hook = http.createServer((req, rsp) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const ts = req.headers['x-wspush-timestamp'];
    const want = 'sha256=' + crypto.createHmac('sha256', secret).update(ts + '.' + body).digest('hex');
    const got = String(req.headers['x-wspush-signature'] || '');
    if (got.length !== want.length || !crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want))) {
      bad.push(body);
      rsp.writeHead(401).end();
      return;
    }
    events.push(...JSON.parse(body).events);
    rsp.writeHead(204).end();
  });
});
await new Promise((resolve) => hook.listen(0, '127.0.0.1', resolve));

const clients = [];
const srv = new Server(['--webhook', `http://127.0.0.1:${hook.address().port}/events`, '--webhook-secret', secret,
  '--webhook-delay', '10ms', '--history-size', '100', '--history-ttl', '5m']);
await srv.start();
after(async () => {
  for (const c of clients) c.destroy();
  await srv.stop('SIGKILL');
  hook.close();
});

function newClient(opts) {
  const wx = new FakeWx();
  globalThis.wx = wx;
  const c = new WsPush({ url: srv.wsUrl, minDelay: 100, maxDelay: 400, ...opts });
  clients.push(c);
  const ev = { open: [], push: [] };
  for (const k of Object.keys(ev)) c.on(k, (x) => ev[k].push(x));
  return { c, wx, ev };
}

function pushReceipt(users, data, timeout, id) {
  return srv.api('POST', '/v1/push', { users, data, id, receipt: { timeout } });
}

async function states(id) {
  const r = await srv.api('GET', `/v1/messages/${encodeURIComponent(id)}`);
  return Object.fromEntries(r.users.map((u) => [u.user, u.state]));
}

test('a push that asks for a receipt is acknowledged after its handler returned', async () => {
  const { c, wx, ev } = newClient({ user: 'rita' });
  let during;
  c.on('push', (m) => { during = wx.last.sent.slice(); });
  c.connect();
  await waitFor('open', () => c.state === 'open');
  const { id } = await pushReceipt(['rita'], { order: 1 }, '30s');
  await waitFor('received', async () => (await states(id)).rita === 'received');
  const key = ev.push[0].receipt;
  assert.match(key, /^r-[0-9a-f]{16}$/);
  assert.ok(!during.some((s) => s.includes('"received"')), 'acknowledged before the handler returned');
  const acks = wx.last.sent.filter((s) => s.includes('"received"'));
  assert.deepEqual(acks.map((s) => JSON.parse(s)), [{ type: 'received', ids: [key] }]);
  // A push without a receipt is not acknowledged.
  await srv.push(['rita'], 'plain');
  await waitFor('the plain push', () => ev.push.length === 2);
  await sleep(500); // past receiptDelay
  assert.equal(wx.last.sent.filter((s) => s.includes('"received"')).length, 1);
});

test('with receipts: false nothing is acknowledged until received(id)', async () => {
  const { c, wx, ev } = newClient({ user: 'sam', receipts: false });
  c.connect();
  await waitFor('open', () => c.state === 'open');
  const a = await pushReceipt(['sam'], 1, '30s');
  const b = await pushReceipt(['sam'], 2, '30s');
  await waitFor('both pushes', () => ev.push.length === 2);
  await sleep(150);
  assert.deepEqual(await states(a.id), { sam: 'pending' });
  c.received(ev.push); // the pushes themselves: their receipt keys go
  await waitFor('received', async () => (await states(a.id)).sam === 'received' && (await states(b.id)).sam === 'received');
  // Both in one message: batched.
  assert.equal(wx.last.sent.filter((s) => s.includes('"received"')).length, 1);
});

test('a handler that throws does not acknowledge', async () => {
  const { c } = newClient({ user: 'tom' });
  c.on('push', () => { throw new Error('the app failed'); });
  const err = console.error;
  console.error = () => {};
  try {
    c.connect();
    await waitFor('open', () => c.state === 'open');
    const { id } = await pushReceipt(['tom'], 1, '30s');
    await sleep(600); // past receiptDelay
    assert.deepEqual(await states(id), { tom: 'pending' });
  } finally {
    console.error = err;
  }
});

test('a switch of apps mid-message: the socket dies in the background, one signed message.undelivered with the data', async () => {
  const { c, wx, ev } = newClient({ user: 'uma', resumeTimeout: 300 });
  c.connect();
  await waitFor('open', () => c.state === 'open');
  await srv.push(['uma'], 'before'); // a position to resume from
  await waitFor('the first push', () => ev.push.length === 1);
  // The user switches apps as the push is on its way: onAppHide, and the
  // socket dies without a close (platforms.mjs, DOCS.suspend).
  wx.hide();
  wx.last.freeze();
  const { id } = await pushReceipt(['uma'], { ride: 'arrived' }, '1s', 'ride-9');
  assert.equal(id, 'ride-9');
  await waitFor('message.undelivered', () => events.some((e) => e.type === 'message.undelivered' && e.message === id), 8000);
  assert.equal(ev.push.length, 1, 'the frozen socket delivered');
  // The barrier: a later message's event; the webhook sends in order.
  const barrier = await pushReceipt(['nobody'], 'barrier', '100ms');
  await waitFor('the barrier', () => events.some((e) => e.message === barrier.id), 8000);
  const mine = events.filter((e) => e.message === id);
  assert.equal(mine.length, 1, JSON.stringify(mine));
  assert.deepEqual(mine[0].users, ['uma']);
  assert.deepEqual(mine[0].data, { ride: 'arrived' });
  assert.deepEqual(bad, [], 'a webhook request failed its signature');
  assert.deepEqual(await states(id), { uma: 'undelivered' });
  // Back in the foreground the client resumes and gets it from history,
  // acknowledges it, and nothing changes: the backend was told already.
  wx.show();
  await waitFor('the replayed push', () => ev.push.length === 2, 8000);
  assert.equal(ev.push[1].id, id);
  await sleep(200);
  assert.deepEqual(await states(id), { uma: 'undelivered' });
});

test('resumed from history before the timeout, the push counts as received', async () => {
  const { c, wx, ev } = newClient({ user: 'vic', resumeTimeout: 300 });
  c.connect();
  await waitFor('open', () => c.state === 'open');
  await srv.push(['vic'], 'before');
  await waitFor('the first push', () => ev.push.length === 1);
  wx.hide();
  wx.last.freeze();
  wx.last.ws.terminate();
  await waitFor('vic gone', async () => (await srv.user('vic')).connections === 0);
  const { id } = await pushReceipt(['vic'], 'while away', '1m');
  wx.show();
  await waitFor('the missed push', () => ev.push.length === 2);
  await waitFor('received', async () => (await states(id)).vic === 'received');
});
