// The typings: a typed usage file (generics, every adapter name, the
// token lifecycle) under tsc --strict, and the wx adapter against WeChat's
// own typings (miniprogram-api-typings).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { clientDir } from './server.mjs';

const tsc = path.join(clientDir, 'node_modules/typescript/bin/tsc');

function check(project) {
  try {
    execFileSync(process.execPath, [tsc, '-p', path.join(clientDir, 'test/types', project)], { cwd: clientDir, encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc -p test/types/${project}:\n${e.stdout}${e.stderr}`);
  }
}

test('a typed usage compiles under tsc --strict', () => check('tsconfig.json'));
test('the wx adapter takes WeChat\'s own wx (miniprogram-api-typings)', () => check('tsconfig.wx.json'));
