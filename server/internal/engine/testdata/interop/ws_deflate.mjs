// ws_deflate.mjs drives an echo server with Node's `ws` and permessage-deflate
// on (perMessageDeflate: true, ws's own defaults: it compresses what it sends
// from 1024 bytes up). server/internal/engine/interop_deflate_test.go runs it; by hand:
//
//	node server/internal/engine/testdata/interop/ws_deflate.mjs ws://127.0.0.1:8080/ws THRESHOLD
//
// THRESHOLD is the server's --compression-threshold. Compressible text
// (JSON) and incompressible binary (pseudo-random bytes) go both ways at
// sizes around the server's threshold and ws's, whole and in fragments; the
// bytes the socket reads show whether the server compressed what it echoed.
// It prints one JSON line of results and exits non-zero on any mismatch.

import { WebSocket, check, finish, noise, results } from './report.mjs';

const url = process.argv[2];
const threshold = Number(process.argv[3] || 128);
if (!url) {
  console.error('usage: node ws_deflate.mjs ws://HOST:PORT/ws THRESHOLD');
  process.exit(2);
}

// json returns exactly n bytes of push-like JSON text (compresses well).
function json(n) {
  let s = '';
  for (let i = 0; s.length < n; i++) s += `{"type":"push","id":"m${i}","data":{"price":${i * 1.25},"note":"order filled"}},`;
  return Buffer.from(s.slice(0, n), 'utf8');
}


function inbox(socket) {
  const queue = [];
  const waiters = [];
  socket.on('message', (data, isBinary) => {
    const w = waiters.shift();
    if (w) w([data, isBinary]);
    else queue.push([data, isBinary]);
  });
  return (what) => {
    if (queue.length) return Promise.resolve(queue.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting for ${what}`)), 10000);
      waiters.push((v) => { clearTimeout(timer); resolve(v); });
    });
  };
}

async function run() {
  const socket = new WebSocket(url, { perMessageDeflate: true });
  socket.on('error', (err) => check('socket error', false, String(err)));
  const closed = new Promise((resolve) => socket.on('close', (code) => resolve(code)));
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
  results.extensions = socket.extensions;
  check('permessage-deflate negotiated', /^permessage-deflate/.test(socket.extensions), `extensions ${JSON.stringify(socket.extensions)}`);
  const next = inbox(socket);

  const sizes = [0, 1, threshold - 1, threshold, threshold + 1, 1023, 1024, 4096, 65536, 200000];
  for (const [kind, make] of [['json', json], ['noise', noise]]) {
    for (const n of sizes) {
      const name = `${kind} ${n}`;
      const want = make(n);
      const before = socket._socket.bytesRead;
      socket.send(want, { binary: kind === 'noise' });
      const [got, isBinary] = await next(name);
      const wire = socket._socket.bytesRead - before;
      let ok = isBinary === (kind === 'noise') && Buffer.compare(got, want) === 0;
      let detail = ok ? undefined : `got ${got.length} bytes binary=${isBinary}`;
      // The echo of compressible text from the threshold up comes compressed.
      if (ok && kind === 'json' && n >= Math.max(threshold, 256) && wire >= n / 2) {
        ok = false;
        detail = `echo of ${n} bytes of JSON took ${wire} bytes on the wire: not compressed`;
      }
      if (ok && (n < threshold || kind === 'noise') && wire < n) {
        ok = false;
        detail = `echo of ${n} bytes took ${wire} bytes on the wire: compressed although under the threshold or incompressible`;
      }
      check(name, ok, detail);
    }
  }

  // Fragmented and compressed: ws compresses the fragments as one message.
  for (const [kind, make] of [['json', json], ['noise', noise]]) {
    const name = `${kind} 30000 in three compressed fragments`;
    const want = make(30000);
    const binary = kind === 'noise';
    socket.send(want.subarray(0, 7000), { binary, fin: false, compress: true });
    socket.send(want.subarray(7000, 7001), { binary, fin: false, compress: true });
    socket.send(want.subarray(7001), { binary, fin: true, compress: true });
    const [got, isBinary] = await next(name);
    const ok = isBinary === binary && Buffer.compare(got, want) === 0;
    check(name, ok, ok ? undefined : `got ${got.length} bytes binary=${isBinary}`);
  }

  socket.close(1000, 'done');
  const code = await closed;
  check('close 1000 echoed', code === 1000, `close code ${code}`);
}

await finish(run);
