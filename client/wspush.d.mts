// Type declarations of the ES module entry (wspush.mjs): the same names as
// wspush.d.ts, and the class as the default export.
export * from './wspush.js';
import { WsPush } from './wspush.js';
export default WsPush;
