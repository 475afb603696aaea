// The wx adapter against WeChat's own typings (miniprogram-api-typings):
// the real wx object must be accepted where the SDK takes a platform API.
import { WsPush, adapters } from 'wspush';

declare const wxApi: WechatMiniprogram.Wx;
const a = adapters.wx(wxApi);
const c = new WsPush({ url: 'wss://push.example.com/ws', adapter: a });
void c;
// The options the SDK passes are WeChat's own.
const task: WechatMiniprogram.SocketTask = wxApi.connectSocket({ url: 'wss://x/ws', header: {}, timeout: 10000, tcpNoDelay: true, perMessageDeflate: false, forceCellularNetwork: false, protocols: [] });
void task;
