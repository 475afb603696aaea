// The SDK over a fake `wx` global (SocketTasks backed by the ws package)
// against a real `wspush serve`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { WsPush } from 'wspush';
import { Server, waitFor, sleep } from './server.mjs';
import { FakeWx } from './fakewx.mjs';

const clients = [];
const servers = [];
after(async () => {
  for (const c of clients) c.destroy();
  for (const s of servers) await s.stop('SIGKILL');
});

async function startServer(args = []) {
  const s = new Server(args);
  servers.push(s);
  return s.start();
}

// newClient makes a client on a fresh fake wx global and records its events.
function newClient(opts) {
  const wx = new FakeWx();
  globalThis.wx = wx;
  const c = new WsPush({ minDelay: 100, maxDelay: 400, ...opts });
  clients.push(c);
  const ev = { open: [], push: [], message: [], disconnect: [], error: [], state: [] };
  for (const k of Object.keys(ev)) c.on(k, (x, y) => ev[k].push(k === 'state' ? { s: x, ...y } : x));
  return { c, wx, ev };
}

async function opened(c, ev, n = 1) {
  try {
    await waitFor(`open #${n}`, () => ev.open.length >= n && c.state === 'open');
  } catch (e) {
    const log = servers.map((s) => s.log).join('');
    e.message += `\nclient states: ${JSON.stringify(ev.state)}\nerrors: ${ev.error.map((x) => x.message).join('; ')}\nserver log:\n${log}`;
    throw e;
  }
}

// jwt signs an HS256 token with node's crypto.
function jwt(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims);
  return head + '.' + crypto.createHmac('sha256', secret).update(head).digest('base64url');
}

const dev = await startServer(['--ping-interval', '1s']);

test('pushes, room messages and acks through the wx adapter', async () => {
  const { c, wx, ev } = newClient({ url: dev.wsUrl, user: 'alice' });
  assert.equal(c.adapter.name, 'wx', 'the wx global is found');
  c.connect();
  await opened(c, ev);
  assert.deepEqual(ev.state.map((s) => s.s), ['connecting', 'open']);
  assert.equal(c.welcome.user, 'alice');
  assert.equal(c.welcome.ping, 1000);
  assert.match(wx.calls[0].url, /\?auth=inband&user=alice$/);

  const res = await dev.push(['alice'], { hello: 'from the API' });
  assert.equal(res.delivered, 1);
  await waitFor('the push', () => ev.push.length === 1);
  assert.deepEqual(ev.push[0].data, { hello: 'from the API' });

  await c.join('lobby');
  await dev.publish('lobby', 'to the room');
  await waitFor('the room message', () => ev.message.length === 1);
  assert.equal(ev.message[0].room, 'lobby');
  assert.equal(ev.message[0].data, 'to the room');

  const ack = await c.publish('lobby', { text: 'mine' });
  assert.equal(ack.type, 'ack');
  await waitFor('my own room message', () => ev.message.length === 2);
  assert.equal(ev.message[1].from, 'alice');

  await c.send('alice', 'note to self');
  await waitFor('a user message', () => ev.push.length === 2);
  assert.equal(ev.push[1].from, 'alice');

  const bad = await c.join('').catch((e) => e);
  assert.equal(bad.code, 'bad_request');
  assert.deepEqual(c.rooms(), ['lobby']);
  assert.equal(wx.maxLive, 1);
  c.close();
  assert.equal(c.state, 'closed');
});

test('the token goes in the Authorization header; browsers put it in ?token=', async () => {
  const secret = 'test-secret-' + crypto.randomBytes(16).toString('hex'); // 44 bytes: the server wants 32 or more
  const srv = await startServer(['--jwt-secret', secret]);
  const exp = Math.floor(Date.now() / 1000) + 600;
  let calls = 0;
  const { c, wx, ev } = newClient({
    url: srv.wsUrl,
    token: async () => { calls++; return jwt(secret, { sub: 'bob', exp, rooms: ['team:*'], publish: ['team:*'] }); }
  });
  c.connect();
  await opened(c, ev);
  assert.equal(c.welcome.user, 'bob');
  assert.equal(calls, 1);
  assert.equal(wx.calls[0].url, srv.wsUrl + '?auth=inband', 'no token in the URL');
  assert.match(wx.calls[0].header.Authorization, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);

  await c.join('team:red');
  const refused = await c.join('other').catch((e) => e);
  assert.equal(refused.code, 'forbidden');
  assert.deepEqual(c.rooms(), ['team:red'], 'a refused room is forgotten');
  assert.equal((await c.publish('other', 1).catch((e) => e)).code, 'forbidden');
  c.close();

  const urls = [];
  class RecordingWebSocket extends WebSocket {
    constructor(url) { super(url); urls.push(url); }
  }
  const b = new WsPush({ url: srv.wsUrl, adapter: WsPush.adapters.browser(RecordingWebSocket), token: jwt(secret, { sub: 'carol', exp }) });
  clients.push(b);
  const welcome = new Promise((resolve) => b.once('open', resolve));
  b.connect();
  assert.equal((await welcome).user, 'carol');
  assert.match(urls[0], /\/ws\?auth=inband&token=[\w-]+\.[\w-]+\.[\w-]+$/);
  b.close();

  // A bad token: the server says so in-band (4503), and the client stops
  // at once instead of retrying a token that cannot work.
  const { c: bad, wx: badWx, ev: badEv } = newClient({ url: srv.wsUrl, token: jwt('wrong', { sub: 'eve', exp }) });
  const unauthorized = new Promise((resolve) => bad.once('unauthorized', resolve));
  bad.connect();
  assert.deepEqual(await unauthorized, { code: 4503, name: 'unauthorized', reason: 'invalid token: do not retry with this token', source: 'server' });
  assert.equal(bad.state, 'closed');
  assert.equal(badEv.open.length, 0);
  assert.equal(badEv.state.filter((s) => s.s === 'reconnecting').length, 0);
  assert.equal(badWx.calls.length, 1);
  await waitFor('the socket released', () => badWx.live() === 0);
  await srv.stop();
});

test('after the server restarts the client reconnects and rejoins its rooms', async () => {
  const srv = await startServer();
  const { c, wx, ev } = newClient({ url: srv.wsUrl, user: 'dave' });
  c.connect();
  await opened(c, ev);
  await c.join('news');

  await srv.restart('SIGTERM'); // graceful: disconnect 4000 going_away first
  await opened(c, ev, 2);
  assert.equal(ev.disconnect[0].name, 'going_away');
  assert.equal(ev.disconnect[0].code, 4000);
  assert.equal(ev.disconnect[0].reconnect, true);
  await waitFor('the rejoin', async () => (await srv.publish('news', 'after a restart')).delivered === 1);
  await waitFor('the room message', () => ev.message.some((m) => m.data === 'after a restart'));

  await srv.restart('SIGKILL'); // a crash: the socket just closes
  await opened(c, ev, 3);
  assert.equal(ev.disconnect[1].reconnect, true);
  await waitFor('the rejoin', async () => (await srv.publish('news', 'after a crash')).delivered === 1);
  await waitFor('the room message', () => ev.message.some((m) => m.data === 'after a crash'));
  assert.equal(wx.maxLive, 1, 'one socket at a time');
  c.close();
  await srv.stop();
});

test('sends queue while the server is down, bounded, and go out on reconnect', async () => {
  const srv = await startServer();
  const { c, ev } = newClient({ url: srv.wsUrl, user: 'erin', queueSize: 3, requestTimeout: 10000 });
  c.connect();
  await opened(c, ev);
  await c.join('q');
  await srv.stop('SIGKILL');
  await waitFor('the disconnect', () => c.state === 'reconnecting');
  const results = [1, 2, 3, 4, 5].map((i) => c.publish('q', i).then(() => 'ok', (e) => e.code));
  await srv.start();
  assert.deepEqual(await Promise.all(results), ['queue_full', 'queue_full', 'ok', 'ok', 'ok']);
  await waitFor('the three queued messages', () => ev.message.length === 3);
  assert.deepEqual(ev.message.map((m) => m.data), [3, 4, 5], 'in order, after the rejoin');
  c.close();
  await srv.stop();
});

test('a socket that stops answering is replaced after the heartbeat timeout', async () => {
  const { c, wx, ev } = newClient({ url: dev.wsUrl, user: 'frank' });
  c.connect();
  await opened(c, ev);
  await c.join('hb');
  const t0 = Date.now();
  wx.last.freeze(); // no onClose, nothing more arrives
  await opened(c, ev, 2);
  const took = Date.now() - t0;
  assert.equal(ev.disconnect[0].name, 'heartbeat_timeout');
  assert.ok(took < 3500, `replaced after ${took} ms; the server pings every 1 s`);
  assert.equal(wx.tasks[0].released, true, 'the dead task was closed');
  assert.equal(wx.maxLive, 1);
  await waitFor('the rejoin', async () => (await dev.publish('hb', 'still here')).delivered === 1);
  await waitFor('the room message', () => ev.message.length === 1);
  c.close();
});

test('back in the foreground, a socket that died in the background is replaced at once', async () => {
  const { c, wx, ev } = newClient({ url: dev.wsUrl, user: 'gina', resumeTimeout: 300 });
  c.connect();
  await opened(c, ev);
  wx.hide();
  wx.last.freeze(); // closed in the background; onClose never fires
  await sleep(2500); // paused: no heartbeat, no false alarm
  assert.equal(c.state, 'open');
  assert.equal(ev.disconnect.length, 0);
  const t0 = Date.now();
  wx.show();
  await opened(c, ev, 2);
  const took = Date.now() - t0;
  assert.ok(took < 1500, `back after ${took} ms`);
  assert.equal(ev.state.find((s) => s.s === 'reconnecting').delay, 0);
  assert.equal(wx.calls.length, 2, 'a single new attempt');
  c.close();
});

test('kicked through the API: disconnect 4500 and no reconnect', async () => {
  const { c, wx, ev } = newClient({ url: dev.wsUrl, user: 'henry' });
  c.connect();
  await opened(c, ev);
  assert.deepEqual(await dev.kick('henry'), { closed: 1 });
  await waitFor('the disconnect', () => ev.disconnect.length === 1);
  assert.deepEqual(ev.disconnect[0], { code: 4500, name: 'kicked', reason: 'disconnected by the server', reconnect: false });
  assert.equal(c.state, 'closed');
  assert.equal((await c.publish('r', 1).catch((e) => e)).code, 'closed');
  await sleep(800); // several backoff delays
  assert.equal(wx.calls.length, 1);
  assert.equal((await dev.user('henry')).online, false);
});

test('after an app switch the client gets back what it missed, in order and once', async () => {
  const hist = await startServer(['--history-size', '100', '--history-ttl', '5m']);
  const { c, wx, ev } = newClient({ url: hist.wsUrl, user: 'ivy', resumeTimeout: 300 });
  const joined = c.join('r');
  c.connect();
  await opened(c, ev);
  await joined;
  await hist.push(['ivy'], 'p1');
  await hist.publish('r', 'r1');
  await waitFor('the live messages', () => ev.push.length === 1 && ev.message.length === 1);

  // In the background the socket dies and the server sees it go; the SDK
  // gets no onClose. Meanwhile the backend pushes and publishes.
  wx.hide();
  wx.last.freeze();
  wx.last.ws.terminate();
  await waitFor('ivy gone from the server', async () => (await hist.user('ivy')).connections === 0);
  await hist.push(['ivy'], 'p2');
  await hist.publish('r', 'r2');
  await hist.push(['ivy'], 'p3');

  wx.show();
  await opened(c, ev, 2);
  assert.ok(wx.last.ws.url.includes('resume=1'), wx.last.ws.url);
  await waitFor('the missed messages', () => ev.push.length === 3 && ev.message.length === 2);
  await hist.push(['ivy'], 'p4');
  await waitFor('a live push after the replay', () => ev.push.length === 4);
  await sleep(200); // nothing more comes: no message twice
  assert.deepEqual(ev.push.map((m) => m.data), ['p1', 'p2', 'p3', 'p4']);
  assert.deepEqual(ev.message.map((m) => m.data), ['r1', 'r2']);
  c.close();
});
