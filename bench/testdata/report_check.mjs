// Opens a bench report in Debian's chromium through playwright-core, the
// way client/test's browser tests do, and prints what bench/report_test.go
// checks, as JSON: every request the page made besides the file itself,
// the page's errors, and for each chart canvas its size and how many of
// its pixels are painted. With a third argument it also writes a
// screenshot of the whole page there (docs/images/bench-report.png).
//
//   node report_check.mjs PLAYWRIGHT_CORE_DIR REPORT.html [SCREENSHOT.png]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [pwDir, report, shot] = process.argv.slice(2);
const { chromium } = await import(pathToFileURL(path.join(pwDir, 'index.mjs')).href);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wspush-report-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.WSPUSH_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const out = { requests: [], errors: [], charts: [] };
try {
  const page = context.pages()[0] || await context.newPage();
  const url = pathToFileURL(path.resolve(report)).href;
  page.on('request', r => { if (r.url() !== url) out.requests.push(r.url()); });
  page.on('pageerror', e => out.errors.push(String(e)));
  page.on('console', m => { if (m.type() === 'error') out.errors.push(m.text()); });
  await page.goto(url, { waitUntil: 'load', timeout: 20000 });
  await page.waitForFunction(() => window.reportReady === true, null, { timeout: 20000 });
  out.errors.push(...await page.evaluate(() => window.reportErrors || []));
  out.charts = await page.evaluate(() => [...document.querySelectorAll('.chart')].map(el => {
    const c = el.querySelector('canvas');
    if (!c) return { id: el.id, canvas: false, text: el.textContent.trim() };
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    const colors = new Set();
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] > 0) {
        painted++;
        if (colors.size < 64) colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      }
    }
    return { id: el.id, canvas: true, width: c.width, height: c.height, painted, colors: colors.size };
  }));
  if (shot) await page.screenshot({ path: shot, fullPage: true });
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
