// ws_echo.mjs drives an echo server with Node's `ws` package, a client
// nobody here wrote. server/internal/engine/interop_test.go runs it; by hand:
//
//	node server/internal/engine/testdata/interop/ws_echo.mjs ws://127.0.0.1:8080/ws
//
// `ws` comes through report.mjs, from client/node_modules or
// WSPUSH_CLIENT_DIR.
//
// It prints one JSON line of results and exits non-zero on any mismatch.

import { WebSocket, check, finish } from './report.mjs';

const url = process.argv[2];
if (!url) {
  console.error('usage: node ws_echo.mjs ws://HOST:PORT/ws');
  process.exit(2);
}

// The boundaries of the 7-bit, 16-bit and 64-bit length forms (RFC 6455 5.2).
const sizes = [0, 125, 126, 65535, 65536];

// text returns exactly n bytes of UTF-8 that mix 1-, 2-, 3- and 4-byte
// characters, padded with ASCII to the exact length.
function text(n) {
  const unit = 'aé中😀'; // 1+2+3+4 = 10 bytes
  const s = unit.repeat(Math.floor(n / 10)) + 'x'.repeat(n % 10);
  const b = Buffer.from(s, 'utf8');
  if (b.length !== n) throw new Error(`text(${n}) is ${b.length} bytes`);
  return b;
}

function binary(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

// Messages and pongs arrive in order; each waiter takes the next one.
function inbox(socket, event) {
  const queue = [];
  const waiters = [];
  socket.on(event, (...args) => {
    const w = waiters.shift();
    if (w) w.resolve(args);
    else queue.push(args);
  });
  return (what) => {
    if (queue.length) return Promise.resolve(queue.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting for ${what}`)), 10000);
      waiters.push({ resolve: (v) => { clearTimeout(timer); resolve(v); } });
    });
  };
}

function describe(data, isBinary) {
  return `${isBinary ? 'binary' : 'text'} ${data.length} bytes, head ${data.subarray(0, 16).toString('hex')}`;
}

async function run() {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  socket.on('error', (err) => {
    check('socket error', false, String(err));
  });
  const closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const nextMessage = inbox(socket, 'message');
  const nextPong = inbox(socket, 'pong');

  for (const binaryKind of [false, true]) {
    for (const n of sizes) {
      const name = `${binaryKind ? 'binary' : 'text'} ${n}`;
      const want = binaryKind ? binary(n) : text(n);
      socket.send(want, { binary: binaryKind });
      const [got, isBinary] = await nextMessage(name);
      const ok = isBinary === binaryKind && Buffer.compare(got, want) === 0;
      check(name, ok, ok ? undefined : `got ${describe(got, isBinary)}, want ${describe(want, binaryKind)}`);
    }
  }

  // One text message in three fragments, cut after the first and after the
  // second byte of 中 (E4 B8 AD), with a ping between the first two. RFC
  // 6455 5.4: control frames may be injected in the middle of a fragmented
  // message; the reassembled message must be valid UTF-8 only as a whole.
  {
    const name = 'text fragmented inside 中, ping between fragments';
    const want = Buffer.from('split→中←here', 'utf8');
    const at = want.indexOf(Buffer.from('中', 'utf8'));
    const parts = [want.subarray(0, at + 1), want.subarray(at + 1, at + 2), want.subarray(at + 2)];
    socket.send(parts[0], { binary: false, fin: false });
    socket.ping(Buffer.from('mid-message'));
    socket.send(parts[1], { binary: false, fin: false });
    socket.send(parts[2], { binary: false, fin: true });
    const [pong] = await nextPong('pong');
    check('pong between fragments', pong.toString() === 'mid-message', `pong payload ${pong.toString('hex')}`);
    const [got, isBinary] = await nextMessage(name);
    const ok = !isBinary && Buffer.compare(got, want) === 0;
    check(name, ok, ok ? undefined : `got ${describe(got, isBinary)}, want ${describe(want, false)}`);
  }

  socket.close(1000, 'done');
  const { code } = await closed;
  check('close 1000 echoed', code === 1000, `close code ${code}`);
}

await finish(run);
