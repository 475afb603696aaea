// The mini-program example (examples/miniprogram) run in Node: App, Page
// and getApp stand-ins, the fake wx, and a real wspush serve.
import { test, after } from 'node:test';
import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { WsPush } from 'wspush';
import { Server, clientDir, waitFor } from './server.mjs';
import { FakeWx } from './fakewx.mjs';

const dir = path.join(clientDir, 'examples/miniprogram');
const require = createRequire(path.join(dir, 'app.js'));
let server = null;
const closers = [];
after(async () => {
  for (const c of closers) c();
  if (server) await server.stop('SIGKILL');
});

test('the example ships the current SDK', () => {
  const sdk = fs.readFileSync(path.join(clientDir, 'wspush.js'), 'utf8');
  const copy = fs.readFileSync(path.join(dir, 'utils/wspush.js'), 'utf8');
  assert.ok(sdk === copy, 'examples/miniprogram/utils/wspush.js differs from wspush.js: cp wspush.js examples/miniprogram/utils/');
  for (const f of ['app.json', 'project.config.json', 'sitemap.json', 'pages/chat/chat.json']) {
    JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  }
  const pages = JSON.parse(fs.readFileSync(path.join(dir, 'app.json'), 'utf8')).pages;
  for (const p of pages) {
    for (const ext of ['js', 'wxml', 'wxss', 'json']) assert.ok(fs.existsSync(path.join(dir, `${p}.${ext}`)), `${p}.${ext}`);
  }
});

test('the chat page chats through a room and shows pushes', async () => {
  server = await new Server().start();
  const wx = new FakeWx();
  let app = null;
  let pageDef = null;
  globalThis.wx = wx;
  globalThis.App = (def) => { app = def; };
  globalThis.getApp = () => app;
  globalThis.Page = (def) => { pageDef = def; };

  require('./app.js');
  app.globalData.url = server.wsUrl;
  app.globalData.devUser = 'mia';
  app.onLaunch();
  closers.push(() => app.push.destroy());
  require('./pages/chat/chat.js');
  const page = Object.create(pageDef);
  page.data = structuredClone(pageDef.data);
  page.setData = (d) => Object.assign(page.data, d);
  page.onLoad();
  const has = (kind, text) => page.data.chats.some((c) => c.kind === kind && c.text.includes(text));

  await waitFor('open', () => page.data.state === 'open');
  assert.equal(page.data.stateText, '已连接');
  assert.equal(wx.calls.length, 1);
  await waitFor('the join', async () => (await server.publish('lobby', '欢迎')).delivered === 1);
  await waitFor('the room message', () => has('room', '欢迎'));

  page.userSay({ detail: { value: '你好, wspush' } });
  page.sendMessage();
  assert.equal(page.data.say, '');
  await waitFor('my message back from the room', () => has('mine', '你好, wspush'));

  const other = new WsPush({ url: server.wsUrl, user: 'noah', adapter: WsPush.adapters.wx(new FakeWx()), warn: () => {} });
  closers.push(() => other.destroy());
  other.connect();
  await other.publish('lobby', { text: 'hi mia' });
  await waitFor("another user's message", () => page.data.chats.some((c) => c.kind === 'room' && c.who === 'noah说'));

  await server.push(['mia'], { text: '订单已发货' });
  await waitFor('the push', () => has('push', '订单已发货'));

  page.onUnload();
  const n = page.data.chats.length;
  await server.push(['mia'], 'after unload');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(page.data.chats.length, n, 'the page stopped listening');
  assert.equal(app.push.state, 'open', 'the connection stays with the app');
  assert.equal(wx.maxLive, 1);
});

test('the example logs in with wx.login per token reason, refreshes in-band, and stops once logged out', async () => {
  const secret = crypto.randomBytes(24).toString('hex');
  const srv = await new Server(['--jwt-secret', secret]).start();
  closers.push(() => srv.stop('SIGKILL'));
  const wx = new FakeWx();
  const requests = [];
  // The backend of fetchToken: wx.login's code for a 3-second token.
  wx.login = ({ success }) => setImmediate(() => success({ code: 'code-' + requests.length }));
  wx.request = ({ url, data, success }) => {
    requests.push({ url, ...data });
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sub: 'olga', exp: Math.floor(Date.now() / 1000) + 3 });
    setImmediate(() => success({ statusCode: 200, data: { token: head + '.' + crypto.createHmac('sha256', secret).update(head).digest('base64url') } }));
  };
  let app = null;
  globalThis.wx = wx;
  globalThis.App = (def) => { app = def; };
  delete require.cache[require.resolve('./app.js')];
  require('./app.js');
  app.globalData.url = srv.wsUrl;
  app.onLaunch();
  closers.push(() => app.push.destroy());
  const refreshed = [];
  app.push.on('refreshed', (r) => refreshed.push(r));
  await waitFor('open', () => app.push.state === 'open');
  assert.equal(app.push.welcome.user, 'olga');
  await waitFor('an in-band refresh', () => refreshed.length === 1, 5000);
  assert.deepEqual(requests.map((r) => r.reason), ['initial', 'refresh']);
  assert.equal(wx.calls.length, 1, 'no reconnect');

  const stopped = new Promise((resolve) => app.push.once('unauthorized', resolve));
  app.globalData.loggedOut = true; // the next refresh throws UnauthorizedError
  assert.equal((await stopped).source, 'token');
  assert.equal(app.push.state, 'closed');
  assert.equal(app.globalData.needLogin, true);
  assert.equal(requests.length, 2, 'no wx.login after the logout');
});
