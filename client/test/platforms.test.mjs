// The SDK over fakes of each platform that behave as its documentation
// says (platforms.mjs cites the pages), against a real `wspush serve`.
// One test at least per quirk.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { WsPush } from 'wspush';
import { Server, waitFor, sleep } from './server.mjs';
import { FakePlatform, MaxTasks } from './platforms.mjs';
import { FakeAdapter, flush } from './fakes.mjs';

const secret = 'test-secret-' + crypto.randomBytes(16).toString('hex');
const dev = await new Server(['--ping-interval', '1s', '--max-message', '1000']).start();
const auth = await new Server(['--jwt-secret', secret]).start();
const clients = [];
const platforms = [];
after(async () => {
  for (const c of clients) c.destroy();
  for (const p of platforms) p.closeAll();
  await dev.stop('SIGKILL');
  await auth.stop('SIGKILL');
});

function jwt(sub) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sub, exp: Math.floor(Date.now() / 1000) + 600 });
  return head + '.' + crypto.createHmac('sha256', secret).update(head).digest('base64url');
}

// client makes a client over platform p (adapter name) and records events.
function client(p, name, opts = {}) {
  platforms.push(p);
  const c = new WsPush({ url: dev.wsUrl, adapter: WsPush.adapters[name](p), minDelay: 100, maxDelay: 400, warn: () => {}, ...opts });
  clients.push(c);
  const ev = { open: [], disconnect: [], error: [], state: [], push: [] };
  for (const k of Object.keys(ev)) c.on(k, (x, y) => ev[k].push(k === 'state' ? { s: x, ...y } : x));
  return { c, ev };
}

const online = async (srv, user) => (await srv.user(user)).online;

test('uni-app H5 and Taro H5 drop header: the token goes in the query there', async () => {
  for (const [kind, name] of [['uni', 'uni'], ['taro', 'taro']]) {
    const h5 = new FakePlatform(kind, { h5: true });
    const { c, ev } = client(h5, name, { url: auth.wsUrl, token: () => jwt(kind + '-h5') });
    assert.equal(c.adapter.headers, false, `${kind} H5 sends no headers`);
    c.connect();
    await waitFor(`${kind} H5 open`, () => ev.open.length === 1);
    assert.match(h5.calls[0].url, /[?&]token=/);
    c.close();

    const mp = new FakePlatform(kind);
    const m = client(mp, name, { url: auth.wsUrl, token: () => jwt(kind + '-mp') });
    assert.equal(m.c.adapter.headers, true);
    m.c.connect();
    await waitFor(`${kind} mini-program open`, () => m.ev.open.length === 1);
    assert.doesNotMatch(mp.calls[0].url, /token=/);
    assert.match(mp.calls[0].header.Authorization, /^Bearer /);
    m.c.close();
  }
});

test('uni returns a Promise without callbacks and Taro a Promise of the task: both work', async () => {
  const uni = new FakePlatform('uni');
  assert.equal(typeof uni.connectSocket({ url: dev.wsUrl }).then, 'function', 'the fake keeps the quirk');
  const taro = new FakePlatform('taro');
  for (const [p, name] of [[uni, 'uni'], [taro, 'taro']]) {
    const { c, ev } = client(p, name, { user: name + '-promise' });
    c.connect();
    await waitFor(`${name} open`, () => ev.open.length === 1);
    c.close();
  }
  uni.closeAll();
});

test('close with a code or reason the platform refuses still closes the socket', async () => {
  const wx = new FakePlatform('wx');
  const { c, ev } = client(wx, 'wx', { user: 'closer' });
  c.connect();
  await waitFor('open', () => ev.open.length === 1);
  c.close(1001, '关闭'.repeat(40)); // 1001 is refused, and the reason is 240 bytes
  assert.equal(c.state, 'closed');
  await waitFor('the server sees it go', async () => !(await online(dev, 'closer')));
  const sent = wx.last.closes[0];
  assert.equal(sent.code, 1000);
  assert.ok(Buffer.byteLength(sent.reason) <= 123, `${Buffer.byteLength(sent.reason)} bytes`);

  // Douyin: close takes 1000 only.
  const tt = new FakePlatform('tt');
  const t = client(tt, 'tt', { user: 'tt-closer' });
  t.c.connect();
  await waitFor('open', () => t.ev.open.length === 1);
  t.c.close(4000, 'bye');
  await waitFor('the server sees it go', async () => !(await online(dev, 'tt-closer')));
  assert.equal(tt.last.closes[0].code, 1000);
});

test('a close that fails silently is noticed and made again', async () => {
  const wx = new FakePlatform('wx');
  const { c, ev } = client(wx, 'wx', { user: 'stuck', closeTimeout: 300 });
  c.connect();
  await waitFor('open', () => ev.open.length === 1);
  wx.closeIgnores = 1;
  c.close();
  await waitFor('close_unconfirmed', () => ev.error.some((e) => e.code === 'close_unconfirmed'));
  await waitFor('the server sees it go', async () => !(await online(dev, 'stuck')));
  assert.equal(wx.last.closes.length, 2);
  assert.equal(wx.live(), 0);
});

test('connectSocket gets timeout and the pass-through options', async () => {
  const wx = new FakePlatform('wx');
  const { c, ev } = client(wx, 'wx', {
    user: 'opts', connectTimeout: 7000, tcpNoDelay: true, perMessageDeflate: false, forceCellularNetwork: true
  });
  c.connect();
  await waitFor('open', () => ev.open.length === 1);
  const o = wx.calls[0];
  assert.equal(o.timeout, 7000, 'the platform gives up when the SDK does');
  assert.equal(o.tcpNoDelay, true);
  assert.equal(o.perMessageDeflate, false);
  assert.equal(o.forceCellularNetwork, true);
  assert.equal(o.protocols, undefined, 'nothing not asked for');
  c.close();
  // protocols go through too; wspush selects none, so a platform (like a
  // browser) fails such a connection: for a proxy that negotiates one.
  const wx2 = new FakePlatform('wx');
  const p = client(wx2, 'wx', { user: 'proto', protocols: ['wspush'] });
  p.c.connect();
  await waitFor('connectSocket', () => wx2.calls.length === 1);
  assert.deepEqual(wx2.calls[0].protocols, ['wspush']);
  p.c.close();
});

test('a failed send fails that message only; the connection stays', async () => {
  const wx = new FakePlatform('wx');
  const { c, ev } = client(wx, 'wx', { user: 'sender' });
  c.connect();
  await waitFor('open', () => ev.open.length === 1);
  wx.sendFailures = 1;
  const err = await c.send('sender', 'lost').catch((e) => e);
  assert.equal(err.code, 'send_failed');
  assert.equal(c.state, 'open');
  assert.equal(ev.disconnect.length, 0);
  await c.send('sender', 'kept');
  await waitFor('the next message', () => ev.push.some((m) => m.data === 'kept'));
  assert.equal(wx.calls.length, 1, 'the same socket');
  c.close();
});

test('Douyin reports close codes as strings: they are compared as numbers', async () => {
  // Against the server: a kick arrives in-band and as close frame "4500".
  const tt = new FakePlatform('tt');
  const { c, ev } = client(tt, 'tt', { user: 'tt-kicked' });
  c.connect();
  await waitFor('open', () => ev.open.length === 1);
  await dev.kick('tt-kicked');
  await waitFor('the disconnect', () => ev.disconnect.length === 1);
  assert.deepEqual(ev.disconnect[0], { code: 4500, name: 'kicked', reason: 'disconnected by the server', reconnect: false });
  await sleep(500); // several backoff delays: no retry
  assert.equal(tt.calls.length, 1);

  // A close frame without its message (lost while suspended): the string
  // code alone must decide.
  const fake = new FakeAdapter();
  const f = new WsPush({ url: 'wss://h/ws', adapter: fake, lifecycle: false, minDelay: 100 });
  const seen = [];
  f.on('disconnect', (d) => seen.push(d));
  f.connect();
  await flush();
  fake.last.open();
  fake.last.drop('4500');
  assert.deepEqual(seen[0], { code: 4500, name: 'kicked', reason: '', reconnect: false });
  assert.equal(f.state, 'closed');
  f.destroy();
});

test('close codes garbled to 1000, 1005 or 0: the in-band disconnect decides', async () => {
  for (const garble of [1000, 1005, 0]) {
    const wx = new FakePlatform('wx');
    wx.garbleClose = garble;
    const user = 'garbled-' + garble;
    const { c, ev } = client(wx, 'wx', { user });
    c.connect();
    await waitFor('open', () => ev.open.length === 1);
    await dev.kick(user);
    await waitFor('the disconnect', () => ev.disconnect.length === 1);
    assert.equal(ev.disconnect[0].name, 'kicked');
    assert.equal(c.state, 'closed');
  }
});

test('Alipay: multiple: true gets a SocketTask, and errorMessage is reported', async () => {
  const my = new FakePlatform('my');
  assert.equal(my.connectSocket({ url: dev.wsUrl }), undefined, 'the fake keeps the quirk');
  my.global.ws.terminate();
  const { c, ev } = client(my, 'my', { user: 'ali' });
  c.connect();
  await waitFor('open', () => ev.open.length === 1);
  assert.equal(my.calls[1].multiple, true);
  c.close();

  const refused = client(new FakePlatform('my'), 'my', { url: 'ws://127.0.0.1:1/ws', user: 'ali' });
  refused.c.connect();
  await waitFor('the error', () => refused.ev.error.length >= 1);
  assert.match(refused.ev.error[0].message, /connectSocket:fail/);
  refused.c.close();
});

test('while hidden no retry; on show one attempt at once', async () => {
  const srv = await new Server(['--ping-interval', '1s']).start();
  try {
    const wx = new FakePlatform('wx');
    const { c, ev } = client(wx, 'wx', { url: srv.wsUrl, user: 'hidden' });
    c.connect();
    await waitFor('open', () => ev.open.length === 1);
    wx.hide();
    await srv.restart('SIGKILL'); // the socket closes while the JS still runs
    await waitFor('the loss', () => c.state === 'reconnecting');
    wx.suspend(); // about 5 s after onAppHide the JS freezes
    await sleep(600); // several backoff delays
    assert.equal(wx.calls.length, 1, 'no attempt while hidden');
    assert.equal(ev.state.at(-1).waiting, 'hidden');
    wx.show();
    await waitFor('open', () => ev.open.length === 2);
    assert.equal(wx.calls.length, 2, 'exactly one attempt');
    c.close();
  } finally {
    await srv.stop('SIGKILL');
  }
});

test('callbacks held while suspended arrive on show: one attempt, at once', async () => {
  const srv = await new Server(['--ping-interval', '1s']).start();
  try {
    const wx = new FakePlatform('wx');
    const { c, ev } = client(wx, 'wx', { url: srv.wsUrl, user: 'frozen', resumeTimeout: 5000 });
    c.connect();
    await waitFor('open', () => ev.open.length === 1);
    wx.hide();
    wx.suspend();
    await srv.restart('SIGKILL'); // onClose is held until show
    await waitFor('the close is held', () => wx.held.length >= 1);
    assert.equal(c.state, 'open', 'the SDK cannot know yet');
    const t0 = Date.now();
    wx.show(); // onAppShow, then the held onClose
    await waitFor('open', () => ev.open.length === 2);
    assert.equal(wx.calls.length, 2, 'exactly one attempt');
    assert.equal(ev.state.find((s) => s.s === 'reconnecting').delay, 0, 'at once, not after resumeTimeout');
    assert.ok(Date.now() - t0 < 5000);
    c.close();
  } finally {
    await srv.stop('SIGKILL');
  }
});

test('offline: no retry; back online: one attempt at once', async () => {
  const srv = await new Server(['--ping-interval', '1s']).start();
  try {
    const wx = new FakePlatform('wx');
    const { c, ev } = client(wx, 'wx', { url: srv.wsUrl, user: 'offline', minDelay: 2000, maxDelay: 4000 });
    c.connect();
    await waitFor('open', () => ev.open.length === 1);
    wx.setNetwork(false);
    await srv.restart('SIGKILL');
    await waitFor('the loss', () => c.state === 'reconnecting');
    await sleep(300);
    assert.equal(wx.calls.length, 1, 'no attempt while offline');
    assert.equal(ev.state.at(-1).waiting, 'offline');
    wx.setNetwork(true);
    await waitFor('open', () => ev.open.length === 2, 1500); // well before minDelay's backoff
    assert.equal(wx.calls.length, 2);
    c.close();
  } finally {
    await srv.stop('SIGKILL');
  }
});

test('five sockets: a shared client per URL, a warning for a second one, and a clear stop past the limit', async () => {
  const wx = new FakePlatform('wx');
  const warnings = [];
  const opts = { url: dev.wsUrl, adapter: WsPush.adapters.wx(wx), user: 'five', warn: (m) => warnings.push(m) };
  const a = WsPush.shared(opts);
  const b = WsPush.shared(opts);
  assert.equal(a, b, 'one client per URL');
  a.connect();
  b.connect();
  assert.equal(warnings.filter((w) => /second client/.test(w)).length, 0);
  const dup = new WsPush(opts);
  dup.connect();
  assert.equal(warnings.filter((w) => /second client/.test(w)).length, 1, warnings.join('\n'));
  dup.destroy();

  // The page helper connects on load and releases on unload.
  const def = WsPush.page({ onLoad() { this.loaded = true; }, onUnload() { this.unloaded = true; } }, opts);
  const p1 = Object.create(def);
  const p2 = Object.create(def);
  p1.onLoad();
  p2.onLoad();
  assert.equal(p1.wspush, a);
  assert.equal(p2.wspush, a);
  assert.ok(p1.loaded);
  await waitFor('open', () => a.state === 'open');
  a.release();
  b.release();
  p1.onUnload();
  assert.equal(a.state, 'open', 'still held by p2');
  p2.onUnload();
  assert.ok(p2.unloaded);
  assert.equal(a.state, 'closed');
  await waitFor('the socket released', () => wx.live() === 0);

  // Past five sockets WeChat refuses with "exceed max task count".
  const full = new FakePlatform('wx');
  for (let i = 0; i < MaxTasks; i++) full.connectSocket({ url: dev.wsUrl + '?user=hog' + i });
  const { c, ev } = client(full, 'wx', { user: 'sixth' });
  c.connect();
  await waitFor('closed', () => c.state === 'closed');
  assert.equal(ev.error[0].code, 'max_sockets');
  assert.match(ev.error[0].message, /exceed max task count.*5 sockets/);
  assert.equal(ev.state.at(-1).name, 'max_sockets');
  await sleep(500);
  assert.equal(full.calls.length, MaxTasks + 1, 'no retry');
});

test('a ws:// URL in a mini-program warns once', () => {
  const warnings = [];
  const url = 'ws://warn.example/ws';
  const mk = () => new WsPush({ url, adapter: WsPush.adapters.wx(new FakePlatform('wx')), warn: (m) => warnings.push(m) });
  const x = mk();
  const y = mk();
  assert.equal(warnings.filter((w) => /not wss:\/\//.test(w)).length, 1);
  x.destroy();
  y.destroy();
  const quiet = [];
  new WsPush({ url: 'wss://warn.example/ws', adapter: WsPush.adapters.wx(new FakePlatform('wx')), warn: (m) => quiet.push(m) }).destroy();
  new WsPush({ url, adapter: WsPush.adapters.browser(class {}), warn: (m) => quiet.push(m) }).destroy();
  assert.deepEqual(quiet, []);
});

test('a message over the welcome\'s max_message is refused before it is sent', async () => {
  const wx = new FakePlatform('wx');
  const { c, ev } = client(wx, 'wx', { user: 'big' });
  c.connect();
  await waitFor('open', () => ev.open.length === 1);
  assert.equal(c.welcome.max_message, 1000);
  const err = await c.send('big', 'x'.repeat(1000)).catch((e) => e);
  assert.equal(err.code, 'too_large');
  assert.equal(c.sendBinary(new Uint8Array(1001)), false);
  const ok = await c.send('big', '汉'.repeat(100)); // 300 bytes: fits
  assert.equal(ok.type, 'ack');
  assert.equal(ev.disconnect.length, 0);
  assert.equal(c.state, 'open');
  c.close();
});

test('attempts that fail to connect hold no socket and raise no close_unconfirmed', async () => {
  const wx = new FakePlatform('wx');
  const { c, ev } = client(wx, 'wx', { url: 'ws://127.0.0.1:1/ws', user: 'nobody', closeTimeout: 100, minDelay: 50, maxDelay: 100 });
  c.connect();
  await waitFor('three attempts', () => wx.calls.length >= 3);
  await sleep(300); // past closeTimeout for each of them
  c.close();
  assert.deepEqual([...new Set(ev.error.map((e) => e.code))], ['socket']);
  assert.equal(wx.live(), 0);
});
