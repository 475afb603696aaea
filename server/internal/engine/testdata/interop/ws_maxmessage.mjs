// ws_maxmessage.mjs sends messages at --max-message to an echo server with
// Node's `ws`, permessage-deflate on. interop_maxmessage_test.go runs it; by
// hand, against `wspush serve --echo --max-message 65536`:
//
//	node server/internal/engine/testdata/interop/ws_maxmessage.mjs ws://127.0.0.1:8080/ws 65536
//
// MAX is the server's --max-message. ws compresses what it sends from 1024
// bytes up, with zlib: at zlib's default memLevel 8, data that does not
// compress goes in 16 KiB stored blocks, 5 bytes over each; at memLevel 1,
// zlib's worst, in 128-byte ones. For each of the two, MAX-1, MAX and MAX+1
// bytes of compressible text (JSON) and incompressible binary (pseudo-random
// bytes) go whole and in 16 fragments (each compressed and flushed on its
// own), each on a connection of its own: up to MAX the echo must come back
// equal, over it the server must close with 1009. The bytes the socket writes
// show that the message went compressed. It prints one JSON line of results
// and exits non-zero on any mismatch.

import { WebSocket, check, finish, noise } from './report.mjs';

const url = process.argv[2];
const max = Number(process.argv[3]);
if (!url || !(max > 0)) {
  console.error('usage: node ws_maxmessage.mjs ws://HOST:PORT/ws MAX');
  process.exit(2);
}
const timeout = 10000;
const fragments = 16;

// json returns exactly n bytes of push-like JSON text (compresses well).
function json(n) {
  const parts = [];
  for (let i = 0, size = 0; size < n; i++) {
    const s = `{"type":"push","id":"m${i}","data":{"price":${i * 1.25},"note":"order filled"}},`;
    parts.push(s);
    size += s.length;
  }
  return Buffer.from(parts.join('').slice(0, n), 'utf8');
}



// outcome sends want on a new connection and resolves to what came back:
// { echo, isBinary }, { code, reason } for a close, or { error }.
async function outcome(zlibDeflateOptions, want, binary, fragmented) {
  const socket = new WebSocket(url, { perMessageDeflate: { zlibDeflateOptions }, maxPayload: 4 * max });
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
  if (!/^permessage-deflate/.test(socket.extensions)) {
    socket.terminate();
    return { error: `permessage-deflate not negotiated: ${JSON.stringify(socket.extensions)}` };
  }
  const result = new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ error: `no echo and no close after ${timeout} ms` }), timeout);
    socket.once('message', (data, isBinary) => { clearTimeout(timer); resolve({ echo: data, isBinary }); });
    socket.once('close', (code, reason) => { clearTimeout(timer); resolve({ code, reason: String(reason) }); });
    socket.once('error', (err) => { clearTimeout(timer); resolve({ error: String(err) }); });
  });
  const before = socket._socket.bytesWritten;
  if (fragmented) {
    const step = Math.ceil(want.length / fragments);
    for (let i = 0; i < want.length; i += step) {
      const fin = i + step >= want.length;
      socket.send(want.subarray(i, i + step), { binary, fin, compress: true });
    }
  } else {
    socket.send(want, { binary, compress: true });
  }
  const got = await result;
  got.written = socket._socket.bytesWritten - before;
  if (socket.readyState === WebSocket.OPEN) socket.close(1000);
  await new Promise((resolve) => (socket.readyState === WebSocket.CLOSED ? resolve() : socket.once('close', resolve)));
  return got;
}

async function run() {
  for (const [label, zlibDeflateOptions] of [['memLevel 8 (default)', {}], ['memLevel 1', { memLevel: 1 }]]) {
    for (const [kind, make] of [['json', json], ['noise', noise]]) {
      for (const n of [max - 1, max, max + 1]) {
        for (const fragmented of [false, true]) {
          const name = `${label} ${kind} ${n} ${fragmented ? `in ${fragments} fragments` : 'whole'}`;
          const want = make(n);
          const binary = kind === 'noise';
          let got;
          try {
            got = await outcome(zlibDeflateOptions, want, binary, fragmented);
          } catch (err) {
            check(name, false, String(err));
            continue;
          }
          // Compressed, JSON takes a fraction of its size and noise a few
          // bytes more than plain frames of it would (header and mask: at
          // most 14 bytes a frame).
          const plain = n + 14 * (fragmented ? fragments : 1);
          if (kind === 'json' ? got.written >= n / 2 : got.written <= plain) {
            check(name, false, `${n} bytes took ${got.written} bytes to send: not compressed`);
          } else if (got.error) {
            check(name, false, got.error);
          } else if (n > max) {
            check(name, got.code === 1009, got.echo ? `${n} bytes over ${max} came back, want a 1009 close` : `closed with ${got.code} ${JSON.stringify(got.reason)}, want 1009`);
          } else if (got.echo) {
            const ok = got.isBinary === binary && Buffer.compare(got.echo, want) === 0;
            check(name, ok, ok ? undefined : `echo of ${got.echo.length} bytes binary=${got.isBinary} differs from the ${n} sent`);
          } else {
            check(name, false, `${n} bytes within ${max}: closed with ${got.code} ${JSON.stringify(got.reason)}`);
          }
        }
      }
    }
  }
}

await finish(run);
