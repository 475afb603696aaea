// The SDK in Chromium over the real H5 runtimes of uni-app
// (@dcloudio/uni-h5) and Taro (@tarojs/taro-h5), against a real
// `wspush serve --jwt-secret`. Their connectSocket is the browser's
// WebSocket and drops `header`, so the token must go in the query.
//
// The runtimes are large (about 300 MB with their dependencies) and ship as
// ES modules meant for their own build tools: test/h5/ installs them apart
// (make deps: npm ci there), and esbuild bundles each into one script here,
// with the compile-time constants their build tools would define.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Server, clientDir, chromiumPath } from './server.mjs';

const h5Dir = path.join(clientDir, 'test/h5');
const skip = process.env.WSPUSH_SKIP_BROWSER === '1' ? 'WSPUSH_SKIP_BROWSER=1' : process.env.WSPUSH_SKIP_H5 === '1' ? 'WSPUSH_SKIP_H5=1' : false;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wspush-h5-'));
let browser = null;
let server = null;
let web = null;
after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop('SIGKILL');
  if (web) web.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// bundle builds one runtime into tmp/name.js with esbuild.
async function bundle(name, entry, opts) {
  const require = createRequire(path.join(h5Dir, 'package.json'));
  const esbuild = require('esbuild');
  fs.writeFileSync(path.join(tmp, `entry-${name}.mjs`), entry);
  await esbuild.build({
    entryPoints: [path.join(tmp, `entry-${name}.mjs`)],
    nodePaths: [path.join(h5Dir, 'node_modules')],
    bundle: true,
    format: 'iife',
    outfile: path.join(tmp, `${name}.js`),
    logLevel: 'error',
    ...opts
  });
}

function jwt(secret, sub) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sub, exp: Math.floor(Date.now() / 1000) + 600 });
  return head + '.' + crypto.createHmac('sha256', secret).update(head).digest('base64url');
}

test('uni-app H5 and Taro H5 runtimes carry the SDK to a real server, token in the query', { skip }, async () => {
  assert.ok(fs.existsSync(path.join(h5Dir, 'node_modules/@dcloudio/uni-h5')) && fs.existsSync(path.join(h5Dir, 'node_modules/@tarojs/taro-h5')),
    'the H5 runtimes are not installed: make deps (or cd client/test/h5 && npm ci), or set WSPUSH_SKIP_H5=1 to skip this test');
  assert.ok(fs.existsSync(chromiumPath), `no chromium at ${chromiumPath}: make deps, or WSPUSH_SKIP_BROWSER=1`);

  // Taro's H5 build defines TARO_ENV and friends; its API is the module's
  // named exports (the Taro build rewrites Taro.x into them).
  await bundle('taro', "import * as Taro from '@tarojs/taro-h5'; window.TaroH5 = Taro;\n", {
    define: { 'process.env.NODE_ENV': '"production"', 'process.env.TARO_ENV': '"h5"', 'process.env.TARO_PLATFORM': '"web"' },
    banner: { js: 'var process = globalThis.process || { env: {} };' }
  });
  // uni-app's vite plugin aliases vue to its fork and defines the
  // __UNI_FEATURE_* switches; the app shell defines getApp, the JS bridges
  // and __uniConfig, which this page without the shell sets itself.
  const src = fs.readFileSync(path.join(h5Dir, 'node_modules/@dcloudio/uni-h5/dist/uni-h5.es.js'), 'utf8');
  const define = { 'process.env.NODE_ENV': '"production"', __UNI_FEATURE_ROUTER_MODE__: '"hash"' };
  for (const f of new Set(src.match(/__UNI_FEATURE_[A-Z0-9_]*__/g))) if (!define[f]) define[f] = 'false';
  await bundle('uni', "import * as uni from '@dcloudio/uni-h5'; window.uniH5 = uni; window.getApp = uni.getApp; window.getCurrentPages = uni.getCurrentPages; window.UniServiceJSBridge = uni.UniServiceJSBridge; window.UniViewJSBridge = uni.UniViewJSBridge;\n", {
    alias: { vue: '@dcloudio/uni-h5-vue' }, define
  });

  const secret = crypto.randomBytes(24).toString('hex');
  server = await new Server(['--jwt-secret', secret]).start();
  const files = { '/taro.js': path.join(tmp, 'taro.js'), '/uni.js': path.join(tmp, 'uni.js'), '/wspush.js': path.join(clientDir, 'wspush.js') };
  web = http.createServer((req, res) => {
    const f = files[req.url];
    res.setHeader('Content-Type', f ? 'text/javascript' : 'text/html');
    res.end(f ? fs.readFileSync(f) : '<!doctype html><title>h5</title>' +
      '<script>window.__uniConfig = { globalStyle: {}, networkTimeout: {}, locales: {}, router: { mode: "hash", base: "/" }, tabBar: { list: [] } }; window.__uniRoutes = [];</script>');
  });
  await new Promise((resolve) => web.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${web.address().port}/`;

  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });

  for (const [runtime, api, adapter] of [['uni', 'uniH5', 'uni'], ['taro', 'TaroH5', 'taro']]) {
    const user = runtime + '-h5-user';
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(origin);
    await page.addScriptTag({ url: `/${runtime}.js` });
    await page.addScriptTag({ url: '/wspush.js' });
    await page.evaluate(({ url, token, api, adapter }) => {
      window.got = [];
      window.c = new WsPush({ url, token, adapter: WsPush.adapters[adapter](window[api]) });
      window.c.on('push', (m) => window.got.push(m.data));
      window.c.connect();
    }, { url: server.wsUrl, token: jwt(secret, user), api, adapter });
    await page.waitForFunction(() => window.c.state === 'open', null, { timeout: 10000 });
    assert.equal(await page.evaluate(() => window.c.adapter.headers), false, `${runtime} H5 is detected as sending no headers`);
    assert.equal(await page.evaluate(() => window.c.welcome.user), user);
    assert.equal((await server.push([user], 'via ' + runtime)).delivered, 1);
    await page.waitForFunction((t) => window.got.includes(t), 'via ' + runtime, { timeout: 5000 });
    // A close code the browser refuses (1001) still closes the socket.
    await page.evaluate(() => window.c.close(1001, 'x'.repeat(200)));
    for (let i = 0; i < 100 && (await server.user(user)).online; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await server.user(user)).online, false, `${runtime}: the socket closed`);
    assert.deepEqual(errors, [], `${runtime}: no page errors`);
    await page.close();
  }
});
