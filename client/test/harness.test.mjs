// The test harness's Server (server.mjs): it binds port 0, reads its
// addresses from the start line, and keeps them across restarts, failing
// clearly when another socket took a port while it was down.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Server, waitFor } from './server.mjs';

const servers = [];
const listeners = [];
after(async () => {
  for (const l of listeners) l.close();
  for (const s of servers) await s.stop('SIGKILL');
});

function newServer(args, opts) {
  const s = new Server(args, opts);
  servers.push(s);
  return s;
}

// listen binds a plain node listener on addr ("host:port").
function listen(addr) {
  const i = addr.lastIndexOf(':');
  const l = net.createServer((c) => c.destroy());
  listeners.push(l);
  return new Promise((resolve, reject) => {
    l.once('error', reject);
    l.listen(Number(addr.slice(i + 1)), addr.slice(0, i), () => resolve(l));
  });
}

const portOf = (addr) => Number(addr.slice(addr.lastIndexOf(':') + 1));

test('the first start takes the ports the kernel picked from the start line', async () => {
  const a = await newServer().start();
  const b = await newServer().start();
  for (const s of [a, b]) {
    assert.match(s.addr, /^127\.0\.0\.1:\d+$/);
    assert.match(s.apiAddr, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(portOf(s.addr), 0);
    assert.notEqual(portOf(s.apiAddr), 0);
    assert.equal(s.wsUrl, `ws://${s.addr}/ws`);
    assert.ok((await fetch(s.apiUrl + '/healthz')).ok);
  }
  assert.equal(new Set([a.addr, a.apiAddr, b.addr, b.apiAddr]).size, 4);
});

test('a restart binds the same ports again, after a crash and after a graceful stop', async () => {
  const s = await newServer().start();
  const { addr, apiAddr, wsUrl, apiUrl } = s;
  await s.restart('SIGKILL');
  assert.deepEqual([s.addr, s.apiAddr, s.wsUrl, s.apiUrl], [addr, apiAddr, wsUrl, apiUrl]);
  assert.ok((await fetch(s.apiUrl + '/healthz')).ok);
  await s.restart('SIGTERM');
  assert.deepEqual([s.addr, s.apiAddr], [addr, apiAddr]);
  assert.ok((await fetch(s.apiUrl + '/healthz')).ok);
});

test('a restart whose port someone took says so, naming the port', async () => {
  const s = await newServer([], { rebindFor: 300 }).start();
  const addr = s.addr;
  await s.stop('SIGKILL');
  await listen(addr);
  await assert.rejects(s.start(), (e) => {
    assert.match(e.message, new RegExp(`^restart: ${addr.replace(/\./g, '\\.')}, which the first start bound, has been taken by another socket`));
    assert.match(e.message, /bind: address already in use/);
    assert.match(e.message, new RegExp(`\\nLISTEN .*:${portOf(addr)}\\s`), 'ss shows the holder');
    return true;
  });
});

test('a restart waits for a port that is given back within rebindFor', async () => {
  const s = await newServer([], { rebindFor: 10000 }).start();
  const apiAddr = s.apiAddr;
  await s.stop('SIGKILL');
  const l = await listen(apiAddr);
  const restarted = s.start();
  // Give the port back once the server has been refused at least once.
  await waitFor('a refused bind', () => /address already in use/.test(s.log));
  l.close();
  await restarted;
  assert.equal(s.apiAddr, apiAddr);
  assert.ok((await fetch(s.apiUrl + '/healthz')).ok);
});
