// The connect hook end to end: a real `wspush serve --jwt-secret ...
// --connect-hook URL` asks a hook served here (the backend's part: it turns
// a wx.login code into an openid, refuses a used code, or is down), and
// clients connect without a token: the SDK on the fake wx, sending a fresh
// code for every attempt through options.query, and Node's ws, which
// nobody here wrote.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { WebSocket } from 'ws';
import { WsPush } from 'wspush';
import { Server, waitFor } from './server.mjs';
import { FakePlatform } from './platforms.mjs';

const webhookSecret = 'hook-secret-' + crypto.randomBytes(8).toString('hex');

// The hook: mode decides its answers; every request is checked for its
// signature (docs/webhook.md) and recorded.
const hook = { mode: 'ok', requests: [], used: new Set() };
const hookServer = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const ts = req.headers['x-wspush-timestamp'];
    const want = 'sha256=' + crypto.createHmac('sha256', webhookSecret).update(ts + '.' + body).digest('hex');
    const signed = req.headers['x-wspush-signature'] === want;
    const facts = JSON.parse(body);
    hook.requests.push({ facts, signed });
    const code = facts.query.code && facts.query.code[0];
    if (hook.mode === 'down') {
      res.writeHead(503).end();
    } else if (hook.mode === 'garbage') {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>oops</html>');
    } else if (!code || hook.used.has(code)) {
      res.writeHead(403, { 'Content-Type': 'application/json' }).end(JSON.stringify({ reason: 'login code missing or used' }));
    } else {
      hook.used.add(code);
      res.writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ user: 'openid-' + code, rooms: ['city:sz'], meta: { nick: 'n' + code } }));
    }
  });
});
await new Promise((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
const hookUrl = `http://127.0.0.1:${hookServer.address().port}/connect`;

const srv = await new Server(['--jwt-secret', 'jwt-secret-' + crypto.randomBytes(16).toString('hex'),
  '--webhook-secret', webhookSecret, '--connect-hook', hookUrl, '--connect-hook-headers', 'User-Agent']).start();
const clients = [];
after(async () => {
  for (const c of clients) c.destroy();
  await srv.stop('SIGKILL');
  hookServer.close();
});

function newClient(opts = {}) {
  const wx = new FakePlatform('wx');
  let n = 0;
  const c = new WsPush({
    url: srv.wsUrl, adapter: WsPush.adapters.wx(wx), minDelay: 100, maxDelay: 400,
    // What a mini-program does: a new wx.login code for every attempt.
    query: () => ({ code: 'c' + crypto.randomBytes(4).toString('hex') + '-' + (++n) }),
    ...opts
  });
  clients.push(c);
  const ev = { open: [], disconnect: [], error: [], state: [], push: [] };
  for (const k of Object.keys(ev)) c.on(k, (x, y) => ev[k].push(k === 'state' ? { s: x, ...y } : x));
  return { c, wx, ev };
}

async function push(user, data) {
  const r = await fetch(srv.apiUrl + '/v1/push', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ users: [user], data })
  });
  return r.json();
}

test('the SDK connects as the user the hook names, with a fresh code each attempt', async () => {
  hook.mode = 'ok';
  const { c, ev } = newClient();
  c.connect();
  await waitFor('open', () => ev.open.length === 1);
  const user = c.welcome.user;
  assert.match(user, /^openid-c[0-9a-f]{8}-1$/);
  assert.deepEqual(c.welcome.meta, { nick: 'n' + user.slice('openid-'.length) });
  const facts = hook.requests.at(-1);
  assert.ok(facts.signed, 'the hook request is signed');
  assert.equal(facts.facts.type, 'connect.request');
  assert.equal(facts.facts.query.auth[0], 'inband');
  assert.ok(!('token' in facts.facts.query));
  const r = await push(user, { text: 'to the openid' });
  assert.equal(r.delivered, 1, JSON.stringify(r));
  await waitFor('the push', () => ev.push.some((m) => m.data && m.data.text === 'to the openid'));
  // A reconnect asks again, with a new code: the hook would refuse the old.
  await srv.restart('SIGKILL');
  await waitFor('open again', () => ev.open.length === 2);
  assert.match(c.welcome.user, /-2$|-3$|-4$/, 'a new code for the new attempt');
  c.close();
});

test('a refusal reaches the SDK in-band and stops it', async () => {
  hook.mode = 'ok';
  const { c, ev } = newClient({ query: { code: 'always-the-same' } });
  hook.used.add('always-the-same');
  c.connect();
  // Refused before any welcome: no disconnect event (nothing was open),
  // the state closed says who refused and why.
  await waitFor('closed', () => ev.state.some((x) => x.s === 'closed'));
  const d = ev.state.find((x) => x.s === 'closed');
  assert.equal(d.code, 4505);
  assert.equal(d.name, 'refused');
  assert.equal(d.reason, 'login code missing or used');
  assert.equal(ev.open.length, 0);
});

test('a hook that is down or answers garbage: told to retry, and the SDK does', async () => {
  for (const mode of ['down', 'garbage']) {
    hook.mode = mode;
    const before = hook.requests.length;
    const { c, ev } = newClient();
    c.connect();
    await waitFor(`two attempts with the hook ${mode}`, () => hook.requests.length >= before + 2);
    await waitFor(`a retry with the hook ${mode}`, () => ev.state.some((x) => x.s === 'reconnecting' && x.delay > 0));
    const d = ev.state.find((x) => x.s === 'reconnecting' && x.code === 4006);
    assert.ok(d && d.code === 4006, `a 4006 connect_unavailable with the hook ${mode}: ${JSON.stringify(d)}`);
    assert.equal(d.name, 'connect_unavailable');
    assert.equal(ev.open.length, 0);
    hook.mode = 'ok';
    await waitFor(`open once the hook is back (${mode})`, () => ev.open.length === 1);
    c.close();
  }
});

test("Node's ws: admitted with the hook's user, refused in-band", async () => {
  hook.mode = 'ok';
  const read = (url, headers) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const got = [];
    ws.on('message', (m) => {
      got.push(JSON.parse(m.toString()));
      if (got[0].type === 'welcome') { ws.close(1000); }
    });
    ws.on('close', (code) => resolve({ got, code }));
    ws.on('error', reject);
  });
  const ok = await read(srv.wsUrl + '?code=nodews1', { 'User-Agent': 'node-ws-test' });
  assert.equal(ok.got[0].type, 'welcome');
  assert.equal(ok.got[0].user, 'openid-nodews1');
  assert.equal(hook.requests.at(-1).facts.headers['User-Agent'], 'node-ws-test');
  const no = await read(srv.wsUrl + '?code=nodews1');
  assert.deepEqual([no.got[0].type, no.got[0].code, no.got[0].reason], ['disconnect', 4505, 'login code missing or used']);
  assert.equal(no.code, 4505);
});
