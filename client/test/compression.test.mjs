// permessage-deflate with a real browser: Debian's chromium, driven by
// playwright-core, offers the extension by itself on every WebSocket; the SDK
// in a page talks to a `wspush serve` with compression at its defaults.
// Room messages and API pushes go both ways, compressible (JSON) and not
// (random text), under and over the server's --compression-threshold. The
// handshake the browser saw (through the DevTools protocol) and the server's
// counters (/metrics) show that the extension was negotiated and used in both
// directions. Chromium sends each message as one frame, so fragmented
// compressed messages are left to the Node ws and Python websockets interop
// tests (server/internal/engine/interop_deflate_test.go).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Server, waitFor, chromiumPath, launchChromium } from './server.mjs';

const skip = process.env.WSPUSH_SKIP_BROWSER === '1';

let chromium = null;
let server = null;
after(async () => {
  if (chromium) await chromium.close();
  if (server) await server.stop('SIGKILL');
});

// metric reads one counter from the server's /metrics.
async function metric(name) {
  const text = await (await fetch(server.apiUrl + '/metrics')).text();
  const m = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  return m ? Number(m[1]) : NaN;
}

// JSON-ish text of about n characters: compresses well.
function json(n) {
  let s = '';
  for (let i = 0; s.length < n; i++) s += `{"sku":"A-${i}","qty":${i % 7},"price":"9.90"},`;
  return s.slice(0, n);
}

// Random text of n characters over a wide alphabet: compresses little.
function noise(n) {
  let s = '';
  let x = 88172645463325252n;
  for (let i = 0; i < n; i++) {
    x ^= (x << 13n) & 0xffffffffffffffffn; x ^= x >> 7n; x ^= (x << 17n) & 0xffffffffffffffffn;
    s += String.fromCharCode(0x21 + Number(x % 0x5dn), 0x4e00 + Number((x >> 8n) % 0x5000n)).slice(i % 2, i % 2 + 1);
  }
  return s;
}

test('chromium negotiates permessage-deflate; room messages and pushes go both ways compressed',
  { skip: skip && 'WSPUSH_SKIP_BROWSER=1' }, async () => {
    assert.ok(fs.existsSync(chromiumPath),
      `no chromium at ${chromiumPath}: run the README's test command (make test, or make deps: apt-get install chromium), ` +
      'or set WSPUSH_SKIP_BROWSER=1 to skip this test');
    server = await new Server().start(); // compression on, threshold 128, development mode
    chromium = await launchChromium();
    const browser = chromium.context;
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const cdp = await browser.newCDPSession(page);
    await cdp.send('Network.enable');
    const extensions = [];
    cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
      const h = e.response.headers;
      extensions.push(h['Sec-WebSocket-Extensions'] || h['sec-websocket-extensions'] || '');
    });
    await page.goto(`${server.apiUrl}/demo/`);

    const before = {
      negotiated: await metric('wspush_deflate_negotiated_total'),
      inflated: await metric('wspush_deflate_inflated_total'),
      compressed: await metric('wspush_deflate_compressed_total')
    };

    // Two SDK clients in the page, both in room z; every message they get
    // is kept in window.got.
    await page.evaluate(async (wsUrl) => {
      const { WsPush } = await import('./wspush.mjs');
      window.got = { alice: [], bob: [] };
      window.clients = {};
      for (const user of ['alice', 'bob']) {
        const c = new WsPush({ url: wsUrl, user, adapter: 'browser', lifecycle: false });
        c.on('message', (m) => window.got[user].push({ kind: 'message', data: m.data }));
        c.on('push', (m) => window.got[user].push({ kind: 'push', data: m.data }));
        window.clients[user] = c;
        c.connect();
        await c.join('z');
      }
    }, server.wsUrl);
    await waitFor('two WebSocket handshakes', () => extensions.length >= 2, 10000);
    for (const e of extensions) assert.match(e, /^permessage-deflate/, `the browser's handshake answer: ${e}`);

    const texts = [['json 20', json(20)], ['json 127', json(127)], ['json 128', json(128)], ['json 5000', json(5000)],
      ['noise 200', noise(200)], ['noise 5000', noise(5000)]];
    // Client to server (the browser compresses), then server to both.
    for (const [name, text] of texts) {
      await page.evaluate(([name, text]) => window.clients.alice.publish('z', { name, text }), [name, text]);
    }
    // Server to client, from the API.
    for (const [name, text] of texts) {
      await server.push(['bob'], { name, text });
    }
    const want = texts.map(([name, text]) => ({ name, text }));
    const got = await waitFor('every message in the page', async () => {
      const g = await page.evaluate(() => window.got);
      return g.bob.length >= 2 * texts.length && g.alice.length >= texts.length ? g : null;
    }, 10000);
    assert.deepEqual(got.alice.map((m) => m.data), want, 'alice gets the room messages back');
    assert.deepEqual(got.bob.filter((m) => m.kind === 'message').map((m) => m.data), want, 'bob gets the room messages');
    assert.deepEqual(got.bob.filter((m) => m.kind === 'push').map((m) => m.data), want, 'bob gets the pushes');

    // The server saw compression both ways.
    const after = {
      negotiated: await metric('wspush_deflate_negotiated_total'),
      inflated: await metric('wspush_deflate_inflated_total'),
      compressed: await metric('wspush_deflate_compressed_total')
    };
    assert.equal(after.negotiated - before.negotiated, 2, 'both connections negotiated permessage-deflate');
    assert.ok(after.inflated - before.inflated >= texts.length, `the browser sent compressed messages: ${JSON.stringify({ before, after })}`);
    // Each room message over the threshold is compressed once for both
    // receivers, each push once: 4 + 4 at least (the noise compresses a little too).
    assert.ok(after.compressed - before.compressed >= 8, `the server sent compressed messages: ${JSON.stringify({ before, after })}`);
    assert.deepEqual(errors, [], 'no page errors');
  });
