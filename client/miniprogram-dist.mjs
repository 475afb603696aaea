// Lays out miniprogram_dist/, the directory package.json's "miniprogram"
// field names: WeChat DevTools' 构建npm copies it to miniprogram_npm/wspush/,
// where require('wspush') finds index.js
// (https://developers.weixin.qq.com/miniprogram/dev/devtools/npm.html).
// It is wspush.js itself, copied by the prepare script: before npm pack and
// publish, on npm install in client/, and when a project installs this
// folder as a file: dependency (examples/miniprogram does).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(dir, 'miniprogram_dist');
fs.mkdirSync(out, { recursive: true });
fs.copyFileSync(path.join(dir, 'wspush.js'), path.join(out, 'index.js'));
fs.copyFileSync(path.join(dir, 'wspush.d.ts'), path.join(out, 'index.d.ts'));
