// receipts.mjs: a client of wspush's delivery receipts with Node's `ws`
// (nobody here wrote it). server/receipts_test.go runs it:
//
//	node server/testdata/receipts.mjs ws://127.0.0.1:8080/ws?user=nd noack
//
// prints every message the server sends, one JSON line each; with "ack"
// it answers each push that carries a "receipt" with
// {"type":"received","ids":[its receipt]}, with "noack" it reads and never
// answers (an app that shows the message but never says so). It runs
// until killed. `ws` comes from client/node_modules, or from the
// directory WSPUSH_CLIENT_DIR names.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const clientDir = process.env.WSPUSH_CLIENT_DIR || path.resolve(here, '../../client');
const WebSocket = createRequire(path.join(clientDir, 'package.json'))('ws');

const [url, mode] = process.argv.slice(2);
const ws = new WebSocket(url);
ws.on('message', (raw) => {
  const m = JSON.parse(raw.toString());
  process.stdout.write(JSON.stringify(m) + '\n');
  if (m.type === 'push' && typeof m.receipt === 'string' && mode === 'ack') {
    ws.send(JSON.stringify({ type: 'received', ids: [m.receipt] }));
  }
});
ws.on('error', (e) => { console.error(e.message); process.exit(1); });
ws.on('close', () => process.exit(0));
