// join_room.mjs connects users to a wspush server with Node's `ws`, a
// client nobody here wrote, and has each join a room; it holds them until
// its stdin closes. server/rooms_big_test.go runs it; by hand, against a
// development-mode server:
//
//	node server/testdata/join_room.mjs ws://127.0.0.1:8080/ws m 0 5000 big
//
// connects users m00000 to m04999 (five digits), each joins room big, then
// it prints "ready" and waits; it exits 0 when stdin closes, 1 on any
// failure. `ws` comes from client/node_modules, or from the directory
// WSPUSH_CLIENT_DIR names.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const clientDir = process.env.WSPUSH_CLIENT_DIR || path.resolve(here, '../../client');
const WebSocket = createRequire(path.join(clientDir, 'package.json'))('ws');

const [url, prefix, lo, hi, room] = process.argv.slice(2);
if (!room) {
  console.error('usage: node join_room.mjs ws://HOST:PORT/ws PREFIX LO HI ROOM');
  process.exit(2);
}
const concurrency = 100;
const sockets = [];

function join(i) {
  const user = prefix + String(i).padStart(5, '0');
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?user=${user}`);
    const timer = setTimeout(() => reject(new Error(`${user}: no ack within 30 s`)), 30000);
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.type === 'welcome') {
        ws.send(JSON.stringify({ type: 'join', room, ref: 1 }));
      } else if (m.type === 'ack' && m.ref === 1) {
        clearTimeout(timer);
        resolve();
      } else if (m.type === 'error') {
        reject(new Error(`${user}: ${raw}`));
      }
    });
    ws.on('error', (err) => reject(new Error(`${user}: ${err.message}`)));
    ws.on('close', (code) => {
      if (!closing) {
        console.error(`${user}: closed ${code}`);
        process.exit(1);
      }
    });
    sockets.push(ws);
  });
}

let closing = false;
try {
  let next = Number(lo);
  const end = Number(hi);
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < end) {
      await join(next++);
    }
  });
  await Promise.all(workers);
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
console.log('ready');
process.stdin.resume();
process.stdin.on('end', () => {
  closing = true;
  for (const ws of sockets) ws.terminate();
  process.exit(0);
});
