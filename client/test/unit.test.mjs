// The client's logic against a fake socket and a manual clock: backoff,
// its reset, the disconnect codes, the send queue, request promises, rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { WsPush, backoffDelay, Disconnects, describeDisconnect } from 'wspush';
import { Clock, FakeAdapter, flush } from './fakes.mjs';

const require = createRequire(import.meta.url);

function newClient(opts = {}) {
  const clock = new Clock();
  const adapter = new FakeAdapter();
  let r = 0;
  const randoms = opts.randoms || [0.5];
  const client = new WsPush({
    url: 'wss://push.example.com/ws',
    adapter,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    now: clock.now,
    random: () => randoms[r++ % randoms.length],
    warn: () => {},
    ...opts
  });
  const states = [];
  client.on('state', (s, info) => states.push({ s, ...info }));
  return { client, clock, adapter, states };
}

test('require and import give the same SDK', () => {
  const cjs = require('wspush');
  assert.equal(cjs, WsPush);
  assert.equal(cjs.WsPush, WsPush);
  assert.equal(require('../wspush.js'), WsPush);
  assert.equal(Disconnects.length, WsPush.Disconnects.length);
});

test('backoff stays within [minDelay*(1-jitter), maxDelay] and its ceiling doubles', () => {
  const o = { minDelay: 1000, maxDelay: 30000, factor: 2, jitter: 0.5 };
  let prevCeil = 0;
  for (let attempt = 0; attempt < 40; attempt++) {
    const ceil = backoffDelay(attempt, o, () => 0);
    assert.equal(ceil, Math.min(30000, 1000 * 2 ** attempt), `ceiling of attempt ${attempt}`);
    assert.ok(ceil >= prevCeil);
    prevCeil = ceil;
    for (const r of [0, 0.25, 0.5, 0.75, 0.999999]) {
      const d = backoffDelay(attempt, o, () => r);
      assert.ok(d >= 500 && d <= 30000, `attempt ${attempt} random ${r}: ${d} out of bounds`);
      assert.ok(d >= ceil * 0.5 - 1 && d <= ceil, `attempt ${attempt} random ${r}: ${d} not in [ceil/2, ceil]`);
    }
  }
  assert.equal(backoffDelay(3, { minDelay: 100, maxDelay: 1000, jitter: 0 }, () => 0.9), 800);
  assert.equal(backoffDelay(100, { minDelay: 100, maxDelay: 1000, jitter: 0 }), 1000);
});

test('failed attempts back off with jitter, up to maxDelay', async () => {
  const { client, clock, adapter, states } = newClient({ minDelay: 100, maxDelay: 1000, randoms: [0, 1] });
  client.connect();
  await flush();
  const want = [100, 100, 400, 400, 1000, 500, 1000]; // ceilings 100,200,400,800,1000,1000,1000 less 0 or 50%
  for (let i = 0; i < want.length; i++) {
    adapter.last.fail();
    const st = states[states.length - 1];
    assert.equal(st.s, 'reconnecting');
    assert.equal(st.delay, want[i], `delay before attempt ${i + 1}`);
    assert.equal(st.attempt, i + 1);
    const n = adapter.sockets.length;
    await clock.advance(st.delay - 1);
    assert.equal(adapter.sockets.length, n, 'retried before its delay');
    await clock.advance(1);
    assert.equal(adapter.sockets.length, n + 1, 'no retry after its delay');
  }
});

test('a stable connection resets the backoff; a short one does not', async () => {
  const { client, clock, adapter, states } = newClient({ minDelay: 100, maxDelay: 10000, jitter: 0, stableAfter: 5000 });
  client.connect();
  await flush();
  for (let i = 0; i < 3; i++) {
    adapter.last.fail();
    await clock.advance(states.at(-1).delay);
  }
  assert.equal(states.at(-1).delay, 400);
  adapter.last.open();
  await clock.advance(1000); // open for 1 s: not stable
  adapter.last.drop(1006);
  assert.equal(states.at(-1).delay, 800);
  await clock.advance(800);
  adapter.last.open();
  await clock.advance(5000); // stable
  adapter.last.drop(1006);
  assert.equal(states.at(-1).delay, 100);
});

test('disconnect codes 4000-4499 reconnect, 4500-4999 do not', async () => {
  for (const [code, reconnect] of [[4000, true], [4001, true], [4003, true], [4499, true], [4500, false], [4502, false], [4600, false]]) {
    const { client, clock, adapter } = newClient({ minDelay: 100 });
    const seen = [];
    client.on('disconnect', (d) => seen.push(d));
    client.connect();
    await flush();
    adapter.last.open();
    adapter.last.recv({ type: 'disconnect', code, reason: 'r', reconnect });
    assert.deepEqual(adapter.last.closed, { code: 1000, reason: '' }, 'the client closes the socket itself');
    assert.equal(seen.length, 1);
    assert.equal(seen[0].code, code);
    assert.equal(seen[0].reconnect, reconnect);
    assert.equal(client.state, reconnect ? 'reconnecting' : 'closed');
    adapter.last.drop(code); // the close frame after the message changes nothing
    await clock.advance(reconnect ? 100 : 60000);
    assert.equal(adapter.sockets.length, reconnect ? 2 : 1, `code ${code}`);
  }
  assert.equal(describeDisconnect(4500).name, 'kicked');
  assert.equal(describeDisconnect(4777).reconnect, false, 'a close code alone in 4500-4999 stops');
  assert.equal(describeDisconnect(1006).reconnect, true);
});

test('a going_away with retry_after waits that long before coming back, capped at maxDelay', async () => {
  for (const [retryAfter, want] of [[7000, 7000], [90000, 30000]]) {
    const { client, clock, adapter, states } = newClient({ minDelay: 100, maxDelay: 30000 });
    client.connect();
    await flush();
    adapter.last.open();
    adapter.last.recv({ type: 'disconnect', code: 4000, reason: 'server shutting down', reconnect: true, retry_after: retryAfter });
    assert.equal(states[states.length - 1].delay, want);
    await clock.advance(want - 1);
    assert.equal(adapter.sockets.length, 1, 'came back before retry_after');
    await clock.advance(1);
    assert.equal(adapter.sockets.length, 2);
  }
});

test('a close code 4500-4999 without the message still stops', async () => {
  const { client, adapter, clock } = newClient();
  client.connect();
  await flush();
  adapter.last.open();
  adapter.last.drop(4500, 'kicked');
  assert.equal(client.state, 'closed');
  await clock.advance(60000);
  assert.equal(adapter.sockets.length, 1);
});

test('the queue drops its oldest request when full', async () => {
  const { client, clock, adapter } = newClient({ queueSize: 3 });
  client.connect();
  await flush();
  const results = [1, 2, 3, 4, 5].map((i) => client.publish('r', i).then(() => 'ok', (e) => e.code));
  await flush();
  adapter.last.open();
  for (const m of adapter.last.sent.filter((m) => m.type === 'publish')) adapter.last.recv({ type: 'ack', ref: m.ref });
  assert.deepEqual(await Promise.all(results), ['queue_full', 'queue_full', 'ok', 'ok', 'ok']);
  assert.deepEqual(adapter.last.sent.map((m) => m.data), [3, 4, 5]);
  await clock.advance(1);
});

test('the queue can reject the newest request instead', async () => {
  const { client, adapter } = newClient({ queueSize: 2, queueOverflow: 'reject' });
  client.connect();
  await flush();
  const results = [1, 2, 3].map((i) => client.publish('r', i).then(() => 'ok', (e) => e.code));
  adapter.last.open();
  for (const m of adapter.last.sent) adapter.last.recv({ type: 'ack', ref: m.ref });
  assert.deepEqual(await Promise.all(results), ['ok', 'ok', 'queue_full']);
});

test('requests settle on ack, error, timeout, or the connection closing', async () => {
  const { client, clock, adapter } = newClient({ requestTimeout: 1000, minDelay: 100 });
  client.connect();
  await flush();
  adapter.last.open();
  const acked = client.publish('r', 1);
  const refused = client.send('bob', 2).catch((e) => e);
  const unanswered = client.publish('r', 3).catch((e) => e);
  const [m1, m2] = adapter.last.sent;
  adapter.last.recv({ type: 'ack', ref: m1.ref });
  adapter.last.recv({ type: 'error', ref: m2.ref, code: 'forbidden', message: 'no' });
  assert.deepEqual(await acked, { type: 'ack', ref: m1.ref });
  const e = await refused;
  assert.equal(e.code, 'forbidden');
  assert.ok(e instanceof WsPush.WsPushError && e instanceof Error);
  await clock.advance(1000);
  assert.equal((await unanswered).code, 'timeout');
  const cut = client.publish('r', 4).catch((e) => e);
  adapter.last.drop(1006);
  assert.equal((await cut).code, 'disconnected');
  client.close();
  assert.equal((await client.publish('r', 5).catch((e) => e)).code, 'closed');
});

test('a queued request that times out is not sent later', async () => {
  const { client, clock, adapter } = newClient({ requestTimeout: 1000 });
  client.connect();
  await flush();
  const p = client.publish('r', 'late').catch((e) => e.code);
  await clock.advance(1000);
  assert.equal(await p, 'timeout');
  adapter.last.open();
  assert.deepEqual(adapter.last.sent, []);
});

test('rooms are joined again on every connection; a refused join is forgotten', async () => {
  const { client, clock, adapter } = newClient({ minDelay: 100 });
  const joined = client.join('a');
  client.connect();
  await flush();
  adapter.last.open();
  let j = adapter.last.sent.find((m) => m.type === 'join');
  assert.equal(j.room, 'a');
  adapter.last.recv({ type: 'ack', ref: j.ref });
  await joined;
  const refused = client.join('secret').catch((e) => e.code);
  j = adapter.last.sent.find((m) => m.room === 'secret');
  adapter.last.recv({ type: 'error', ref: j.ref, code: 'forbidden', message: 'no' });
  assert.equal(await refused, 'forbidden');
  assert.deepEqual(client.rooms(), ['a']);
  adapter.last.drop(1006);
  await clock.advance(200);
  adapter.last.open();
  assert.deepEqual(adapter.last.sent.filter((m) => m.type === 'join').map((m) => m.room), ['a']);
  const left = client.leave('a');
  assert.deepEqual(client.rooms(), []);
  const l = adapter.last.sent.find((m) => m.type === 'leave');
  adapter.last.recv({ type: 'ack', ref: l.ref });
  await left;
});

test('the client sends at most maxRate messages a second', async () => {
  const { client, clock, adapter } = newClient({ maxRate: 10, queueSize: 100 });
  client.connect();
  await flush();
  adapter.last.open();
  for (let i = 0; i < 30; i++) client.publish('r', i).catch(() => {});
  assert.equal(adapter.last.sent.length, 10, 'the burst');
  await clock.advance(1000);
  assert.equal(adapter.last.sent.length, 20);
  await clock.advance(1000);
  assert.deepEqual(adapter.last.sent.map((m) => m.data), [...Array(30).keys()], 'in order');
});

test('heartbeats follow the welcome; silence past the timeout reconnects', async () => {
  const { client, clock, adapter } = newClient({ minDelay: 100, jitter: 0 });
  const seen = [];
  client.on('disconnect', (d) => seen.push(d));
  client.connect();
  await flush();
  adapter.last.open('u', 2000);
  await clock.advance(2000);
  assert.deepEqual(adapter.last.sent, [{ type: 'ping' }]);
  adapter.last.recv({ type: 'pong' });
  await clock.advance(2000);
  assert.equal(adapter.last.sent.length, 2);
  await clock.advance(1999); // no pong: the timeout is min(10 s, ping) = 2 s
  assert.equal(client.state, 'open');
  await clock.advance(1);
  assert.equal(seen[0].name, 'heartbeat_timeout');
  assert.ok(adapter.sockets[0].closed, 'the dead socket is closed');
  await clock.advance(100);
  assert.equal(adapter.sockets.length, 2);
});

test('resume pings at once and retries at once when the socket died in the background', async () => {
  const { client, clock, adapter, states } = newClient({ minDelay: 1000, resumeTimeout: 500 });
  client.connect();
  await flush();
  adapter.last.open('u', 25000);
  adapter.hide();
  await clock.advance(60000); // suspended: no pings, no false alarm
  assert.equal(client.state, 'open');
  assert.equal(adapter.last.sent.length, 0);
  adapter.show();
  assert.deepEqual(adapter.last.sent, [{ type: 'ping' }]);
  await clock.advance(500); // no answer: dead
  assert.equal(states.at(-1).s, 'reconnecting');
  assert.equal(states.at(-1).delay, 0);
  await clock.advance(0);
  assert.equal(adapter.sockets.length, 2, 'one attempt at once');
  adapter.last.fail();
  assert.ok(states.at(-1).delay >= 500, 'then the backoff');
  adapter.show(); // coming back again soon after does not storm
  await clock.advance(10);
  assert.equal(adapter.sockets.length, 2);
});

test('resume while waiting to reconnect retries once at once', async () => {
  const { client, clock, adapter } = newClient({ minDelay: 5000, maxDelay: 60000 });
  client.connect();
  await flush();
  adapter.last.fail(); // waiting 2.5-5 s
  adapter.hide();
  adapter.show();
  await clock.advance(0);
  assert.equal(adapter.sockets.length, 2);
  adapter.last.fail();
  adapter.show();
  await clock.advance(0);
  assert.equal(adapter.sockets.length, 2, 'a second show within minDelay waits for the backoff');
});

test('the token goes in the header for mini-programs and in the query for browsers', async () => {
  const { client, adapter } = newClient({ token: () => Promise.resolve('t.o.k'), user: 'dev' });
  client.connect();
  await flush();
  assert.equal(adapter.last.url, 'wss://push.example.com/ws?auth=inband&user=dev');
  assert.deepEqual(adapter.last.h.headers, { Authorization: 'Bearer t.o.k' });
  const browserish = new FakeAdapter({ headers: false });
  const c2 = new WsPush({ url: 'wss://h/ws?x=1', adapter: browserish, token: 'a b' });
  c2.connect();
  await flush();
  assert.equal(browserish.last.url, 'wss://h/ws?x=1&auth=inband&token=a%20b');
  assert.deepEqual(browserish.last.h.headers, {});
  c2.close();
});

test('binary messages arrive as ArrayBuffer and typed arrays go out as their bytes', async () => {
  const { client, adapter } = newClient();
  const got = [];
  client.on('binary', (b) => got.push(b));
  client.connect();
  await flush();
  adapter.last.open();
  adapter.last.h.onMessage(new Uint8Array([1, 2, 3]).buffer);
  assert.ok(got[0] instanceof ArrayBuffer);
  const big = new Uint8Array([9, 8, 7, 6]);
  assert.equal(client.sendBinary(big.subarray(1, 3)), true);
  const sent = adapter.last.sent[0];
  assert.ok(sent instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(sent)], [8, 7]);
});

test('a reconnect resumes from the last positions, joining the rooms in the same request', async () => {
  const { client, clock, adapter } = newClient({ minDelay: 100, jitter: 0 });
  const got = [];
  client.on('push', (m) => got.push(m.data));
  client.on('message', (m) => got.push(m.room + ':' + m.data));
  const joined = client.join('chat');
  client.connect();
  await flush();
  adapter.last.open();
  assert.ok(!adapter.last.url.includes('resume=1'), 'a first connection has nothing to resume');
  const j = adapter.last.sent.find((m) => m.type === 'join');
  adapter.last.recv({ type: 'ack', ref: j.ref });
  await joined;
  adapter.last.recv({ type: 'push', id: 'm1', pos: '100-0', data: 'a', ts: 1 });
  adapter.last.recv({ type: 'push', id: 'm2', pos: '105-2', data: 'b', ts: 1, room: 'chat' });
  adapter.last.recv({ type: 'push', id: 'm2', pos: '105-2', data: 'b', ts: 1, room: 'chat' }); // again: dropped
  assert.deepEqual(client.positions(), { user: '100-0', rooms: { chat: '105-2' } });

  adapter.last.drop(1006);
  await clock.advance(100);
  assert.ok(adapter.last.url.includes('resume=1'), adapter.last.url);
  adapter.last.open();
  const r = adapter.last.sent[0];
  assert.equal(r.type, 'resume', 'the resume goes first');
  assert.equal(r.user_pos, '100-0');
  assert.deepEqual(r.rooms, { chat: '105-2' });
  assert.equal(adapter.last.sent.filter((m) => m.type === 'join').length, 0, 'the resume joins the rooms');
  const resumed = new Promise((resolve) => client.once('resumed', resolve));
  adapter.last.recv({ type: 'push', id: 'm3', pos: '110-0', data: 'missed', ts: 2 });
  adapter.last.recv({ type: 'push', id: 'm1', pos: '100-0', data: 'a', ts: 1 }); // older: dropped
  adapter.last.recv({ type: 'ack', ref: r.ref });
  assert.deepEqual((await resumed).rooms, ['chat']);
  assert.deepEqual(got, ['a', 'chat:b', 'missed']);

  const gaps = [];
  client.on('gap', (g) => gaps.push(g));
  adapter.last.recv({ type: 'gap', room: 'chat', pos: '200-0' });
  assert.deepEqual(gaps, [{ room: 'chat', pos: '200-0' }]);
  assert.equal(client.positions().rooms.chat, '200-0');
});

test('a server without history gets plain joins, and no resume after that', async () => {
  const { client, clock, adapter } = newClient({ minDelay: 100, jitter: 0 });
  client.join('chat');
  client.connect();
  await flush();
  adapter.last.open();
  adapter.last.recv({ type: 'ack', ref: adapter.last.sent[0].ref });
  adapter.last.recv({ type: 'push', id: 'm1', pos: '100-0', data: 'a', ts: 1, room: 'chat' });
  adapter.last.drop(1006);
  await clock.advance(100);
  adapter.last.open();
  const r = adapter.last.sent[0];
  assert.equal(r.type, 'resume');
  adapter.last.recv({ type: 'error', ref: r.ref, code: 'no_history', message: 'this server keeps no history' });
  await flush();
  const j = adapter.last.sent.find((m) => m.type === 'join');
  assert.equal(j && j.room, 'chat', 'the room is joined the plain way');
  adapter.last.drop(1006);
  await clock.advance(200);
  assert.ok(!adapter.last.url.includes('resume=1'));
  adapter.last.open();
  assert.equal(adapter.last.sent[0].type, 'join');
});

test('resume: false never resumes', async () => {
  const { client, clock, adapter } = newClient({ minDelay: 100, jitter: 0, resume: false });
  client.connect();
  await flush();
  adapter.last.open();
  adapter.last.recv({ type: 'push', id: 'm1', pos: '100-0', data: 'a', ts: 1 });
  adapter.last.drop(1006);
  await clock.advance(100);
  assert.ok(!adapter.last.url.includes('resume=1'));
});

// live advances the clock by ms, with the fake server answering the
// heartbeat on the latest socket every 5 s.
async function live(clock, adapter, ms) {
  while (ms > 0) {
    const step = Math.min(5000, ms);
    await clock.advance(step);
    adapter.last.recv({ type: 'pong' });
    ms -= step;
  }
}

test('the in-band refresh runs refreshBefore ahead of exp, or half-way for a short token, on the manual clock', async () => {
  const reasons = [];
  const { client, clock, adapter } = newClient({ token: (ctx) => { reasons.push(ctx.reason); return 'tok-' + reasons.length; } });
  clock.t = 1_000_000;
  client.connect();
  await flush();
  const s = adapter.last;
  s.h.onOpen();
  s.recv({ type: 'welcome', conn: 'c1', user: 'u', ping: 25000, max_message: 65536, exp: clock.t + 600_000 });
  await live(clock, adapter, 539_999);
  assert.deepEqual(reasons, ['initial']);
  await clock.advance(1);
  assert.deepEqual(reasons, ['initial', 'refresh']);
  const req = s.sent.find((m) => m.type === 'refresh');
  assert.equal(req.token, 'tok-2');
  s.recv({ type: 'ack', ref: req.ref, exp: clock.t + 10_000 }); // a short one: half-way
  await live(clock, adapter, 4_999);
  assert.equal(reasons.length, 2);
  await clock.advance(1);
  assert.deepEqual(reasons, ['initial', 'refresh', 'refresh']);
  assert.equal(adapter.sockets.length, 1);
  client.close();
});

test('a device clock ahead of the server refreshes once, not in a loop', async () => {
  const reasons = [];
  const { client, clock, adapter } = newClient({ token: (ctx) => { reasons.push(ctx.reason); return 't'; } });
  clock.t = 10_000_000;
  client.connect();
  await flush();
  const s = adapter.last;
  s.recv({ type: 'welcome', conn: 'c1', user: 'u', ping: 25000, exp: clock.t - 5_000 });
  for (let i = 0; i < 20; i++) {
    await live(clock, adapter, 1_000);
    for (const m of s.sent.filter((x) => x.type === 'refresh' && !x.acked)) {
      m.acked = true;
      s.recv({ type: 'ack', ref: m.ref, exp: clock.t - 4_000 }); // still "past" by this clock
    }
  }
  assert.deepEqual(reasons, ['initial', 'refresh']);
  client.close();
});

test('a cached token is reused until it is about to expire, then fetched with reason expired', async () => {
  const reasons = [];
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const { client, clock, adapter } = newClient({
    minDelay: 100, refreshBefore: 0,
    token: (ctx) => { reasons.push(ctx.reason); return 'h.' + b64({ sub: 'u', exp: Math.floor(clock.t / 1000) + 60 }) + '.s'; }
  });
  clock.t = 1_000_000;
  client.connect();
  await flush();
  adapter.last.open();
  adapter.last.drop(1006);
  await clock.advance(100);
  adapter.last.open();
  assert.deepEqual(reasons, ['initial'], 'reused');
  await live(clock, adapter, 60_000);
  assert.deepEqual(reasons, ['initial'], 'still the one connection');
  adapter.last.drop(1006);
  await clock.advance(200);
  assert.deepEqual(reasons, ['initial', 'expired']);
  client.close();
});

test('a socket that opens after its attempt was given up is closed again', async () => {
  const { client, clock, adapter } = newClient({ connectTimeout: 1000, minDelay: 100 });
  client.connect();
  await flush();
  const first = adapter.last;
  await clock.advance(1000); // no welcome: given up, closed once
  assert.equal(first.closes, 1);
  first.h.onOpen(); // the platform opens it anyway
  assert.equal(first.closes, 2);
  client.close();
});

test('a token function that fails is asked again with the same reason, initial', async () => {
  const reasons = [];
  const { client, clock, adapter } = newClient({
    minDelay: 100,
    token: (ctx) => {
      reasons.push(ctx.reason);
      if (reasons.length === 1) throw new Error('wx.login failed');
      return 't';
    }
  });
  const errors = [];
  client.on('error', (e) => errors.push(e.code));
  client.connect();
  await flush();
  assert.deepEqual(errors, ['token']);
  assert.equal(client.state, 'reconnecting');
  await clock.advance(100);
  assert.deepEqual(reasons, ['initial', 'initial']);
  assert.equal(adapter.sockets.length, 1);
  client.close();
});

// Receipts: acknowledged after the handlers, batched over receiptDelay,
// at most 256 keys a message, held while hidden or disconnected and sent
// on the next connection.
test('receipts are batched over receiptDelay, split at 256, held across a reconnect', async () => {
  const { client, clock, adapter } = newClient({ receiptDelay: 250, minDelay: 100, maxDelay: 100, randoms: [0] });
  client.connect();
  await flush();
  adapter.last.open('ann');
  const received = (s) => s.sent.filter((m) => m.type === 'received');
  const push = (s, i) => s.recv({ type: 'push', id: 'm' + i, data: i, ts: 1, receipt: 'r-' + i });
  push(adapter.last, 1);
  push(adapter.last, 2);
  adapter.last.recv({ type: 'push', id: 'm3', data: 3, ts: 1 }); // no receipt: not acknowledged
  await clock.advance(249);
  assert.deepEqual(received(adapter.last), [], 'sent before receiptDelay passed');
  await clock.advance(1);
  assert.deepEqual(received(adapter.last), [{ type: 'received', ids: ['r-1', 'r-2'] }]);

  // 300 at once: 256 go at once, the rest after receiptDelay.
  for (let i = 0; i < 300; i++) push(adapter.last, 100 + i);
  assert.equal(received(adapter.last).length, 2);
  assert.equal(received(adapter.last)[1].ids.length, 256);
  await clock.advance(250);
  assert.equal(received(adapter.last)[2].ids.length, 44);

  // Hidden: held; back: sent.
  adapter.hide();
  push(adapter.last, 7);
  await clock.advance(1000);
  assert.equal(received(adapter.last).length, 3, 'acknowledged while hidden');
  adapter.show();
  await flush();
  assert.deepEqual(received(adapter.last)[3], { type: 'received', ids: ['r-7'] });

  // Disconnected: held, then sent on the next connection's welcome.
  push(adapter.last, 8);
  const first = adapter.last;
  first.drop(1006);
  await clock.advance(250);
  await clock.advance(100);
  assert.notEqual(adapter.last, first);
  adapter.last.open('ann');
  await flush();
  assert.deepEqual(received(adapter.last), [{ type: 'received', ids: ['r-8'] }]);
  client.close();
});
