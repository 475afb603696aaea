// The ES module entry of the wspush SDK. wspush.js is the one implementation:
// Node and bundlers load it as CommonJS (ns.default); a browser loading this
// file natively runs wspush.js as a plain script, which defines the global
// WsPush.
import * as ns from './wspush.js';

const WsPush = (ns && ns.default) || globalThis.WsPush;

export { WsPush };
export const WsPushError = WsPush.WsPushError;
export const UnauthorizedError = WsPush.UnauthorizedError;
export const shared = WsPush.shared;
export const page = WsPush.page;
export const Disconnects = WsPush.Disconnects;
export const describeDisconnect = WsPush.describeDisconnect;
export const backoffDelay = WsPush.backoffDelay;
export const defaults = WsPush.defaults;
export const adapters = WsPush.adapters;
export default WsPush;
