// The package as a developer gets it: `npm pack`, installed from the
// tarball into a throwaway project, used from CommonJS, ESM and
// TypeScript (both module kinds, tsc --strict), and laid out for WeChat
// DevTools' 构建npm (the "miniprogram" field).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clientDir } from './server.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wspush-pack-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const run = (cmd, args, cwd) => {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    assert.fail(`${cmd} ${args.join(' ')} in ${cwd}:\n${e.stdout}${e.stderr}`);
  }
};

test('npm pack, install the tarball, use it from CommonJS, ESM and TypeScript', () => {
  const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tmp], clientDir));
  const files = packed.files.map((f) => f.path).sort();
  assert.deepEqual(files, ['README.md', 'miniprogram_dist/index.d.ts', 'miniprogram_dist/index.js', 'package.json',
    'wspush.d.mts', 'wspush.d.ts', 'wspush.js', 'wspush.mjs']);

  const app = path.join(tmp, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', path.join(tmp, packed.filename)], app);
  const installed = path.join(app, 'node_modules/wspush');
  const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'wspush');
  assert.match(pkg.version, /^\d+\.\d+\.\d+/);
  assert.equal(pkg.miniprogram, 'miniprogram_dist');
  assert.equal(fs.readFileSync(path.join(installed, 'miniprogram_dist/index.js'), 'utf8'),
    fs.readFileSync(path.join(clientDir, 'wspush.js'), 'utf8'), 'DevTools gets the SDK itself');

  fs.writeFileSync(path.join(app, 'cjs.js'), `
    const WsPush = require('wspush');
    const { WsPush: Named, UnauthorizedError, adapters } = require('wspush');
    if (WsPush !== Named || typeof UnauthorizedError !== 'function' || typeof adapters.my !== 'function') throw new Error('cjs exports');
    console.log('cjs ' + new WsPush({ url: 'wss://x/ws', adapter: adapters.browser(class {}) }).state);
  `);
  assert.equal(run('node', ['cjs.js'], app).trim(), 'cjs closed');
  fs.writeFileSync(path.join(app, 'esm.mjs'), `
    import WsPush, { WsPush as Named, UnauthorizedError, shared } from 'wspush';
    if (WsPush !== Named || typeof UnauthorizedError !== 'function' || typeof shared !== 'function') throw new Error('esm exports');
    console.log('esm ' + new WsPush({ url: 'wss://x/ws', adapter: 'browser' }).state);
  `);
  assert.equal(run('node', ['esm.mjs'], app).trim(), 'esm closed');

  fs.writeFileSync(path.join(app, 'use.mts'), `
    import WsPush, { UnauthorizedError, type Push } from 'wspush';
    const c = new WsPush({ url: 'wss://x/ws', token: async ({ reason }) => { if (reason === 'refresh') throw new UnauthorizedError(); return 't'; } });
    c.on<'push', { n: number }>('push', (m: Push<{ n: number }>) => { const n: number = m.data.n; void n; });
    export {};
  `);
  fs.writeFileSync(path.join(app, 'use.cts'), `
    import WsPush = require('wspush');
    const c = new WsPush.WsPush({ url: 'wss://x/ws', adapter: 'tt' });
    c.publish<{ a: string }>('r', { a: 'b' });
  `);
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2020', lib: ['es2020', 'dom'], types: [] },
    files: ['use.mts', 'use.cts']
  }));
  run(process.execPath, [path.join(clientDir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
});
