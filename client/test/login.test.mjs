// Login against a real `wspush serve --jwt-secret`: the token function's
// reasons, the cache, the in-band answers to a bad or expired token, the
// error that stops for good, and the in-band refresh.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { WsPush, UnauthorizedError } from 'wspush';
import { Server, waitFor } from './server.mjs';
import { FakePlatform } from './platforms.mjs';

const secret = 'test-secret-' + crypto.randomBytes(16).toString('hex');
const srv = await new Server(['--jwt-secret', secret, '--ping-interval', '1s']).start();
const clients = [];
after(async () => {
  for (const c of clients) c.destroy();
  await srv.stop('SIGKILL');
});

// jwt signs an HS256 token; exp in seconds from now (fractions allowed).
export function jwt(key, sub, expIn, extra = {}) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = { sub, ...extra };
  if (expIn !== undefined) claims.exp = Math.floor(Date.now() / 1000 + expIn);
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims);
  return head + '.' + crypto.createHmac('sha256', key).update(head).digest('base64url');
}

// newClient makes a client on a fresh fake wx and records its events and
// the reasons its token function was called with.
function newClient(tokenFor, opts = {}) {
  const wx = new FakePlatform('wx');
  const reasons = [];
  const c = new WsPush({
    url: srv.wsUrl, adapter: WsPush.adapters.wx(wx), minDelay: 100, maxDelay: 400,
    token: async (ctx) => { reasons.push(ctx.reason); return tokenFor(ctx.reason, reasons.length); },
    ...opts
  });
  clients.push(c);
  const ev = { open: [], disconnect: [], error: [], state: [], unauthorized: [], refreshed: [] };
  for (const k of Object.keys(ev)) c.on(k, (x, y) => ev[k].push(k === 'state' ? { s: x, ...y } : x));
  return { c, wx, ev, reasons };
}

test('the token is fetched once (initial) and reused for reconnects', async () => {
  const { c, wx, ev, reasons } = newClient(() => jwt(secret, 'ann', 600));
  c.connect();
  await waitFor('open', () => ev.open.length === 1);
  assert.equal(c.welcome.exp, Math.floor(Date.now() / 1000 + 600) * 1000, 'the welcome carries exp');
  assert.equal(typeof c.welcome.max_message, 'number');
  await srv.restart('SIGKILL');
  await waitFor('open after a crash', () => ev.open.length === 2);
  await srv.restart('SIGTERM');
  await waitFor('open after a restart', () => ev.open.length === 3);
  assert.deepEqual(reasons, ['initial'], 'one call, the token cached');
  assert.ok(wx.calls.length >= 3);
  c.close();
});

test('an expired token: exactly one new token (expired) and one reconnect', async () => {
  // refreshBefore 0: no in-band refresh, so that the server expires it.
  const { c, wx, ev, reasons } = newClient((reason) => jwt(secret, 'bea', reason === 'initial' ? 1.5 : 600), { refreshBefore: 0 });
  c.connect();
  await waitFor('open', () => ev.open.length === 1);
  await waitFor('the expiry and the reconnect', () => ev.open.length === 2, 8000);
  assert.equal(ev.disconnect[0].name, 'token_expired');
  assert.deepEqual(reasons, ['initial', 'expired']);
  assert.equal(wx.calls.length, 2, 'one reconnect');
  assert.deepEqual(ev.state.filter((s) => s.s === 'reconnecting').map((s) => s.delay), [0], 'at once');
  assert.equal(ev.unauthorized.length, 0);
  c.close();
});

test('a fresh token the server refuses stops with the unauthorized event', async () => {
  // The expired path: the new token is itself expired.
  const a = newClient((reason) => jwt(secret, 'cy', reason === 'initial' ? 1.5 : -60), { refreshBefore: 0 });
  a.c.connect();
  await waitFor('unauthorized', () => a.ev.unauthorized.length === 1, 8000);
  assert.deepEqual(a.reasons, ['initial', 'expired']);
  assert.equal(a.ev.unauthorized[0].name, 'token_expired');
  assert.equal(a.c.state, 'closed');
  assert.equal(a.wx.calls.length, 2);

  // A forged token from the start: one attempt, one call.
  const b = newClient(() => jwt('wrong-secret', 'cy', 600));
  b.c.connect();
  await waitFor('unauthorized', () => b.ev.unauthorized.length === 1);
  assert.equal(b.ev.unauthorized[0].code, 4503);
  assert.deepEqual(b.reasons, ['initial']);
  assert.equal(b.wx.calls.length, 1);
  assert.equal(b.ev.open.length, 0);
  await waitFor('the socket released', () => b.wx.live() === 0);
});

test('UnauthorizedError from the token function stops for good', async () => {
  const { c, wx, ev } = newClient(() => { throw new UnauthorizedError('logged out'); });
  c.connect();
  await waitFor('unauthorized', () => ev.unauthorized.length === 1);
  assert.deepEqual(ev.unauthorized[0], { code: 0, name: 'unauthorized', reason: 'logged out', source: 'token' });
  assert.equal(c.state, 'closed');
  assert.equal(wx.calls.length, 0, 'no socket opened');
  assert.ok(new UnauthorizedError('x') instanceof Error);
  assert.equal(WsPush.UnauthorizedError, UnauthorizedError);

  // Thrown at refresh time, it closes the open connection.
  const r = newClient((reason) => {
    if (reason === 'refresh') throw new UnauthorizedError('logged out meanwhile');
    return jwt(secret, 'dee', 4);
  });
  r.c.connect();
  await waitFor('unauthorized', () => r.ev.unauthorized.length === 1, 8000);
  assert.equal(r.ev.disconnect[0].name, 'unauthorized');
  assert.equal(r.ev.disconnect[0].reconnect, false);
  assert.equal(r.c.state, 'closed');
  await waitFor('the socket released', () => r.wx.live() === 0);
});

test('a token refreshed in-band before exp keeps the one connection past it', async () => {
  let n = 0;
  const { c, wx, ev, reasons } = newClient(() => jwt(secret, 'eve', 3, { rooms: ['gen' + (++n), 'always'] }));
  c.connect();
  await waitFor('open', () => ev.open.length === 1);
  const firstExp = c.welcome.exp;
  await waitFor('two refreshes, and the first token\'s exp well past', () => ev.refreshed.length >= 2 && Date.now() > firstExp + 1000, 10000);
  assert.ok(ev.refreshed[1].exp > firstExp);
  assert.deepEqual(reasons.slice(0, 3), ['initial', 'refresh', 'refresh']);
  assert.equal(ev.disconnect.length, 0);
  assert.equal(wx.calls.length, 1, 'no reconnect');
  // The connection's permissions are the newest token's.
  await c.join('always');
  assert.equal((await c.join('gen1').catch((e) => e)).code, 'forbidden');
  c.close();
});
