// Fakes of the mini-program platforms' socket APIs for Node, backed by the
// ws package, each reproducing what its documentation says the platform
// does (the page is cited beside each quirk). One class, FakePlatform,
// with a kind: wx, uni, taro, my (Alipay) or tt (Douyin).
import WebSocket from 'ws';

// WeChat: "1.7.0 及以上版本，最多可以同时存在 5 个 WebSocket 连接"; past it
// connectSocket fails with "exceed max task count".
// https://developers.weixin.qq.com/miniprogram/dev/api/network/websocket/wx.connectSocket.html
export const MaxTasks = 5;

const DOCS = {
  connectSocket: 'https://developers.weixin.qq.com/miniprogram/dev/api/network/websocket/wx.connectSocket.html',
  close: 'https://developers.weixin.qq.com/miniprogram/dev/api/network/websocket/SocketTask.close.html',
  suspend: 'https://developers.weixin.qq.com/miniprogram/dev/framework/runtime/operating-mechanism.html',
  network: 'https://developers.weixin.qq.com/miniprogram/dev/api/device/network/wx.onNetworkStatusChange.html',
  uni: 'https://uniapp.dcloud.net.cn/api/request/websocket.html',
  uniInfo: 'https://uniapp.dcloud.net.cn/api/system/info.html',
  taro: 'https://docs.taro.zone/docs/apis/network/webSocket/connectSocket',
  taroEnv: 'https://docs.taro.zone/docs/apis/about/env',
  my: 'https://opendocs.alipay.com/mini/api/vx19c3',
  tt: 'https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/develop/api/network/websocket/tt-connect-socket',
  ttClose: 'https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/develop/api/network/websocket/socket-task/close'
};
export { DOCS };

export class FakePlatform {
  // kind: wx | uni | taro | my | tt. h5: uni-app H5 or Taro H5, where
  // connectSocket is the browser's WebSocket and drops header.
  constructor(kind = 'wx', { h5 = false } = {}) {
    this.kind = kind;
    this.h5 = h5;
    this.calls = []; // each connectSocket's options (header copied)
    this.tasks = [];
    this.showFns = [];
    this.hideFns = [];
    this.netFns = [];
    this.maxLive = 0;
    this.suspended = false;
    this.held = []; // callbacks held while suspended
    this.garbleClose = null; // a close code reported whatever the server sent
    this.sendFailures = 0; // the next n sends fail
    this.closeIgnores = 0; // the next n closes do nothing at all
    if (kind === 'taro') this.ENV_TYPE = { WEAPP: 'WEAPP', WEB: 'WEB' };
  }

  // Taro: getEnv() is "WEB" in H5 builds (DOCS.taroEnv).
  getEnv() { return this.h5 ? 'WEB' : 'WEAPP'; }

  // uni-app: uniPlatform is "web" in H5 builds (DOCS.uniInfo).
  getSystemInfoSync() { return { uniPlatform: this.h5 ? 'web' : 'mp-weixin', platform: 'devtools' }; }

  connectSocket(opts) {
    this.calls.push({ ...opts, header: { ...(opts.header || {}) } });
    const cb = opts.success || opts.fail || opts.complete;
    // Alipay returns a SocketTask only with multiple: true; without it the
    // old global my.onSocketOpen API is used and nothing is returned (DOCS.my).
    if (this.kind === 'my' && !opts.multiple) {
      this.global = this.newTask(opts);
      return undefined;
    }
    const task = this.newTask(opts);
    // Taro's connectSocket returns a Promise of the task (DOCS.taro).
    if (this.kind === 'taro') return Promise.resolve(task);
    // uni-app returns the SocketTask only if success, fail or complete is
    // given, else a Promise (DOCS.uni).
    if (this.kind === 'uni' && !cb) return Promise.resolve({ errMsg: 'connectSocket:ok' });
    return task;
  }

  newTask(opts) {
    const task = new FakeSocketTask(this, opts);
    this.tasks.push(task);
    this.maxLive = Math.max(this.maxLive, this.live());
    return task;
  }

  // live counts the tasks that hold a socket slot: not closed by either side.
  live() {
    return this.tasks.filter((t) => !t.released).length;
  }

  // error is the platform's failure object: errMsg, except on Alipay,
  // which reports error and errorMessage (DOCS.my).
  error(msg) {
    return this.kind === 'my' ? { error: 1, errorMessage: msg } : { errMsg: msg };
  }

  // run calls fn now, or on show while the app is suspended: "小程序进入后台
  // 一定时间后 (目前是 5 秒)... 挂起", and callbacks are delivered when it
  // returns (DOCS.suspend).
  run(fn) {
    if (this.suspended) this.held.push(fn);
    else fn();
  }

  onAppShow(fn) { this.showFns.push(fn); }
  onAppHide(fn) { this.hideFns.push(fn); }
  offAppShow(fn) { this.showFns = this.showFns.filter((f) => f !== fn); }
  offAppHide(fn) { this.hideFns = this.hideFns.filter((f) => f !== fn); }
  onNetworkStatusChange(fn) { this.netFns.push(fn); }
  offNetworkStatusChange(fn) { this.netFns = this.netFns.filter((f) => f !== fn); }

  // hide sends the app to the background; suspend freezes its JS, as
  // WeChat does about 5 s later.
  hide() { for (const f of this.hideFns) f(); }
  suspend() { this.suspended = true; }
  // show thaws the app: onAppShow, then what was held.
  show() {
    this.suspended = false;
    for (const f of this.showFns) f({ scene: 1001 });
    const held = this.held;
    this.held = [];
    for (const f of held) f();
  }

  // setNetwork reports a network change (DOCS.network).
  setNetwork(isConnected) {
    for (const f of this.netFns) f({ isConnected, networkType: isConnected ? 'wifi' : 'none' });
  }

  get last() {
    return this.tasks[this.tasks.length - 1];
  }

  // closeAll releases every socket, for the end of a test.
  closeAll() {
    for (const t of this.tasks) t.ws.terminate();
  }
}

function validClose(code, reason) {
  // Browsers (and uni/Taro H5 over them) throw for these; WeChat's
  // SocketTask.close calls fail and leaves the socket open (DOCS.close).
  const okCode = code === 1000 || (code >= 3000 && code <= 4999);
  return okCode && Buffer.byteLength(reason || '') <= 123;
}

class FakeSocketTask {
  constructor(p, opts) {
    const { url, header, fail, complete } = opts;
    this.p = p;
    this.handlers = { open: [], message: [], close: [], error: [] };
    this.frozen = false;
    this.released = false;
    this.closes = []; // each close() call's {code, reason}
    this.sent = []; // each text message sent on the open socket
    if (p.live() >= MaxTasks) {
      this.released = true;
      this.ws = { terminate() {}, close() {} };
      setImmediate(() => {
        if (fail) fail(p.error('connectSocket:fail exceed max task count'));
        if (complete) complete({});
      });
      return;
    }
    // uni-app H5 and Taro H5 run over the browser's WebSocket, which
    // sends no custom header (DOCS.uni: "header ... H5 不支持").
    this.ws = new WebSocket(url, opts.protocols || [], { headers: p.h5 ? {} : header });
    this.ws.on('open', () => p.run(() => this.emit('open', { header: {} })));
    this.ws.on('message', (data, isBinary) => {
      if (this.frozen) return;
      const d = isBinary ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data.toString();
      p.run(() => this.emit('message', { data: d }));
    });
    this.ws.on('close', (code, reason) => {
      this.released = true;
      if (this.frozen) return;
      // Many devices report 1000, 1005 or 0 whatever the server sent;
      // Douyin reports the code as a string (DOCS.tt).
      let c = p.garbleClose ?? code;
      if (p.kind === 'tt') c = String(c);
      p.run(() => this.emit('close', { code: c, reason: reason.toString() }));
    });
    this.ws.on('error', (err) => {
      if (!this.frozen) p.run(() => this.emit('error', p.error('connectSocket:fail ' + err.message)));
    });
  }

  emit(ev, res) {
    for (const fn of this.handlers[ev]) fn(res);
  }

  onOpen(fn) { this.handlers.open.push(fn); }
  onMessage(fn) { this.handlers.message.push(fn); }
  onClose(fn) { this.handlers.close.push(fn); }
  onError(fn) { this.handlers.error.push(fn); }

  send({ data, success, fail }) {
    if (this.frozen) return; // a dead network swallows it
    if (this.p.sendFailures > 0 || this.ws.readyState !== WebSocket.OPEN) {
      // sendSocketMessage can fail for one message (a full buffer, a
      // network blip) with the socket itself still open (DOCS.connectSocket).
      if (this.p.sendFailures > 0) this.p.sendFailures--;
      setImmediate(() => { if (fail) fail(this.p.error('sendSocketMessage:fail')); });
      return;
    }
    if (typeof data !== 'string' && !(data instanceof ArrayBuffer)) {
      throw new TypeError('SocketTask.send: data must be a string or an ArrayBuffer');
    }
    if (typeof data === 'string') this.sent.push(data);
    this.ws.send(typeof data === 'string' ? data : Buffer.from(data));
    if (success) success({});
  }

  close({ code, reason = '', success, fail } = {}) {
    this.closes.push({ code, reason });
    if (this.p.closeIgnores > 0) {
      // SocketTask.close can fail silently: no callback, socket open (DOCS.close).
      this.p.closeIgnores--;
      return;
    }
    if (code === undefined) code = 1000;
    // Douyin documents close codes 1000 only (DOCS.ttClose); WeChat and
    // the H5 runtimes refuse what a browser refuses (DOCS.close).
    if (!validClose(code, reason) || (this.p.kind === 'tt' && code !== 1000)) {
      setImmediate(() => { if (fail) fail(this.p.error('closeSocket:fail invalid code or reason')); });
      return;
    }
    this.released = true;
    if (this.frozen) {
      this.ws.terminate();
      return;
    }
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close(code, reason);
    if (success) setImmediate(() => success({}));
  }

  // freeze makes the socket dead without telling anyone, as after a long
  // background: nothing more arrives, sends vanish, onClose never fires.
  freeze() {
    this.frozen = true;
  }
}
