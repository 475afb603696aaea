// The mini-program example (examples/miniprogram) run in Node: App, Page
// and getApp stand-ins, the fake wx, and a real wspush serve. The example
// gets the SDK the way WeChat DevTools gives it
// (https://developers.weixin.qq.com/miniprogram/dev/devtools/npm.html):
// npm install in the mini-program root, then 构建 npm, which copies each
// dependency's "miniprogram" directory to miniprogram_npm/<name>/, where
// require('wspush') finds index.js. Both steps run here at test time, in a
// temporary directory, and a resolve hook sends the example's
// require('wspush') to what they built.
import { test, after } from 'node:test';
import crypto from 'node:crypto';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Module, { createRequire } from 'node:module';
import { WsPush } from 'wspush';
import { Server, clientDir, waitFor } from './server.mjs';
import { FakeWx } from './fakewx.mjs';

const dir = path.join(clientDir, 'examples/miniprogram');
const require = createRequire(path.join(dir, 'app.js'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wspush-miniprogram-'));
const resolveFilename = Module._resolveFilename;
let server = null;
const closers = [];
after(async () => {
  for (const c of closers) c();
  if (server) await server.stop('SIGKILL');
  Module._resolveFilename = resolveFilename;
  fs.rmSync(tmp, { recursive: true, force: true });
});

// buildNpm does what a developer does for the example: npm install in its
// root (its package.json and .npmrc, the file: dependency made absolute
// because the install runs in tmp), then DevTools' 构建 npm: a package with
// a "miniprogram" field has that directory copied to miniprogram_npm/<name>/.
// It returns the names built.
function buildNpm() {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const deps = pkg.dependencies;
  assert.ok(deps?.wspush?.startsWith('file:'), 'examples/miniprogram/package.json depends on the SDK in this repository');
  assert.equal(path.resolve(dir, deps.wspush.slice('file:'.length)), clientDir);
  deps.wspush = 'file:' + clientDir;
  fs.writeFileSync(path.join(tmp, 'package.json'), JSON.stringify(pkg));
  fs.copyFileSync(path.join(dir, '.npmrc'), path.join(tmp, '.npmrc'));
  try {
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error'],
      { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    assert.fail(`npm install in a copy of examples/miniprogram:\n${e.stdout}${e.stderr}`);
  }
  for (const name of Object.keys(deps)) {
    const installed = path.join(tmp, 'node_modules', name);
    assert.ok(!fs.lstatSync(installed).isSymbolicLink(), `${name} is installed as a copy, not a link (.npmrc install-links)`);
    const field = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')).miniprogram;
    assert.ok(field, `${name}'s package.json has a "miniprogram" field for 构建 npm`);
    fs.cpSync(path.join(installed, field), path.join(tmp, 'miniprogram_npm', name), { recursive: true });
  }
  return Object.keys(deps);
}

const built = buildNpm();
// A bare require of a built package from the example's files finds its
// index.js in miniprogram_npm, as in the mini-program.
Module._resolveFilename = function (request, parent, ...rest) {
  if (built.includes(request) && parent?.filename?.startsWith(dir + path.sep)) {
    return path.join(tmp, 'miniprogram_npm', request, 'index.js');
  }
  return resolveFilename.call(this, request, parent, ...rest);
};

test('the example is a complete mini-program that gets the SDK from 构建 npm', () => {
  assert.ok(!fs.existsSync(path.join(dir, 'utils/wspush.js')), 'no copy of the SDK in the example');
  assert.equal(fs.readFileSync(path.join(tmp, 'miniprogram_npm/wspush/index.js'), 'utf8'),
    fs.readFileSync(path.join(clientDir, 'wspush.js'), 'utf8'), 'miniprogram_npm/wspush/index.js is the SDK built from wspush.js');
  assert.equal(require.resolve('wspush'), path.join(tmp, 'miniprogram_npm/wspush/index.js'));
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

test('with the connect hook the example sends a fresh wx.login code per attempt, and no token', async () => {
  // The backend's hook: the code names the user; a used code is refused.
  const http = await import('node:http');
  const used = new Set();
  const hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const code = (JSON.parse(body).query.code || [])[0];
      if (!code || used.has(code)) return res.writeHead(403).end('{"reason":"used code"}');
      used.add(code);
      res.writeHead(200).end(JSON.stringify({ user: 'openid-' + code }));
    });
  });
  await new Promise((r) => hook.listen(0, '127.0.0.1', r));
  closers.push(() => hook.close());
  const srv = await new Server(['--jwt-secret', crypto.randomBytes(24).toString('hex'),
    '--connect-hook', `http://127.0.0.1:${hook.address().port}/connect`]).start();
  closers.push(() => srv.stop('SIGKILL'));
  const wx = new FakeWx();
  let logins = 0;
  wx.login = ({ success }) => setImmediate(() => success({ code: 'wx' + (++logins) }));
  wx.request = () => assert.fail('no token is fetched with the connect hook');
  let app = null;
  globalThis.wx = wx;
  globalThis.App = (def) => { app = def; };
  delete require.cache[require.resolve('./app.js')];
  require('./app.js');
  app.globalData.url = srv.wsUrl;
  app.globalData.connectHook = true;
  app.onLaunch();
  closers.push(() => app.push.destroy());
  await waitFor('open', () => app.push.state === 'open');
  assert.equal(app.push.welcome.user, 'openid-wx1');
  await srv.restart('SIGKILL');
  await waitFor('open again, with a new code', () => app.push.state === 'open' && app.push.welcome?.user === 'openid-wx2', 10000);
  assert.equal(logins, 2);
});
