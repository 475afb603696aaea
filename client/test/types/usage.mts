// A typed usage of the SDK, compiled with tsc --strict by test/types.test.mjs:
// every line must type-check, and the @ts-expect-error lines must not.
import WsPushDefault, { WsPush, WsPushError, UnauthorizedError, adapters, Disconnects, shared, page } from 'wspush';
import type { Push, Ack, TokenContext, UnauthorizedInfo, Welcome, Adapter, AdapterName, StateInfo } from 'wspush';

interface Chat { text: string; at: number }

const client = new WsPush({
  url: 'wss://push.example.com/ws',
  token: async (ctx: TokenContext) => {
    if (ctx.reason === 'refresh' || ctx.reason === 'expired' || ctx.reason === 'initial') return 'jwt';
    throw new UnauthorizedError('logged out');
  },
  adapter: 'wx',
  refreshBefore: 30000,
  closeTimeout: 3000,
  tcpNoDelay: true,
  perMessageDeflate: false,
  forceCellularNetwork: false,
  protocols: ['a'],
  warn: (m: string) => void m
});
const same: typeof WsPush = WsPushDefault;
void same;

client.on<'push', Chat>('push', (m: Push<Chat>) => {
  const t: string = m.data.text;
  void t;
});
client.on<'message', Chat>('message', (m) => {
  const room: string = m.room;
  const at: number = m.data.at;
  void room; void at;
});
client.on('push', (m) => {
  // Without a type argument data is Json.
  // @ts-expect-error Json is not a string
  const s: string = m.data;
  void s;
});
// Receipts: acknowledged by hand when options.receipts is false.
const manual = new WsPush({ url: 'wss://push.example.com/ws', receipts: false, receiptDelay: 20 });
manual.on('push', (m) => {
  if (m.receipt) manual.received(m.receipt);
  manual.received(m);
  manual.received([m, 'r-0123456789abcdef']);
});
// @ts-expect-error a push or its receipt key
manual.received(7);
client.on('unauthorized', (info: UnauthorizedInfo) => {
  const src: 'server' | 'token' = info.source;
  void src;
});
client.on('refreshed', (info) => { const e: number = info.exp; void e; });
client.on('open', (w: Welcome) => { const n: number | undefined = w.max_message; void n; });
client.on('state', (s, info: StateInfo) => { void s; void info.waiting; });
// @ts-expect-error no such event
client.on('nope', () => {});

async function run(): Promise<void> {
  const ack: Ack = await client.publish<Chat>('room', { text: 'hi', at: 1 });
  const exp: number | undefined = ack.exp;
  void exp;
  // @ts-expect-error the data must be a Chat
  await client.publish<Chat>('room', { text: 1 });
  await client.send<number[]>('bob', [1, 2]);
  try {
    await client.join('r');
  } catch (e) {
    if (e instanceof WsPushError) { const c: string = e.code; void c; }
  }
}
void run;

const names: AdapterName[] = ['wx', 'uni', 'qq', 'tt', 'swan', 'my', 'browser'];
void names;
const all: Adapter[] = [adapters.wx(), adapters.uni(), adapters.my(), adapters.tt(), adapters.qq(), adapters.swan(), adapters.browser()];
void all;
// @ts-expect-error not an adapter name
new WsPush({ url: 'wss://x/ws', adapter: 'alipay' });

const s1: WsPush = shared({ url: 'wss://push.example.com/ws' });
s1.release();
const p = page({ data: { n: 1 }, onLoad() {} }, { url: 'wss://push.example.com/ws' });
const n: number = p.data.n;
void n;
void Disconnects.map((d) => d.code + 1);
