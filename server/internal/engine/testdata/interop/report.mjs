// report.mjs is what the ws_*.mjs interop scripts share: Node's `ws`, and
// what they report, each case checked, then one JSON line and the exit
// status.
//
// `ws` is resolved from client/node_modules (npm ci in client/), or from the
// directory named by WSPUSH_CLIENT_DIR. ESM ignores NODE_PATH and resolves
// bare imports from the script's own directory, so the import goes through
// createRequire anchored in that directory instead.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const clientDir = process.env.WSPUSH_CLIENT_DIR || path.resolve(here, '../../../../../client');
const require = createRequire(path.join(clientDir, 'package.json'));

export const WebSocket = require('ws');

export const results = { client: `ws ${require('ws/package.json').version}`, node: process.version, cases: [] };

export function check(name, ok, detail) {
  results.cases.push(ok ? { name, ok } : { name, ok, detail });
}

// finish runs run, prints the results as one JSON line and exits 1 if a
// case failed, else 0.
export async function finish(run) {
  try {
    await run();
  } catch (err) {
    check('run', false, String(err && err.stack ? err.stack : err));
  }
  const failed = results.cases.some((c) => !c.ok);
  console.log(JSON.stringify({ ok: !failed, ...results }));
  process.exit(failed ? 1 : 0);
}

// noise returns n pseudo-random bytes (does not compress).
export function noise(n) {
  const b = Buffer.alloc(n);
  let x = 2463534242;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}
