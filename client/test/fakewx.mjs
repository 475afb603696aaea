// A fake `wx` global for Node: wx.connectSocket returns a SocketTask with
// the mini-program's shape (onOpen, onMessage, onClose, onError,
// send({data}), close({code, reason})) backed by the `ws` package, plus
// wx.onAppShow/onAppHide. It keeps the 5-socket limit of the real thing.
import WebSocket from 'ws';

export const MaxTasks = 5;

export class FakeWx {
  constructor() {
    this.calls = []; // each connectSocket's {url, header}
    this.tasks = [];
    this.showFns = [];
    this.hideFns = [];
    this.maxLive = 0;
  }

  connectSocket(opts) {
    this.calls.push({ url: opts.url, header: { ...(opts.header || {}) } });
    const task = new FakeSocketTask(this, opts);
    this.tasks.push(task);
    this.maxLive = Math.max(this.maxLive, this.live());
    return task;
  }

  // live counts the tasks that hold a socket slot: not closed by either side.
  live() {
    return this.tasks.filter((t) => !t.released).length;
  }

  onAppShow(fn) { this.showFns.push(fn); }
  onAppHide(fn) { this.hideFns.push(fn); }
  offAppShow(fn) { this.showFns = this.showFns.filter((f) => f !== fn); }
  offAppHide(fn) { this.hideFns = this.hideFns.filter((f) => f !== fn); }
  show() { for (const f of this.showFns) f({ scene: 1001 }); }
  hide() { for (const f of this.hideFns) f(); }

  get last() {
    return this.tasks[this.tasks.length - 1];
  }

  // closeAll releases every socket, for the end of a test.
  closeAll() {
    for (const t of this.tasks) t.ws.terminate();
  }
}

class FakeSocketTask {
  constructor(wx, { url, header, fail, complete }) {
    this.handlers = { open: [], message: [], close: [], error: [] };
    this.frozen = false;
    this.released = false;
    if (wx.live() >= MaxTasks) {
      // What WeChat does past 5 sockets.
      this.released = true;
      this.ws = { terminate() {}, close() {} };
      setImmediate(() => {
        if (fail) fail({ errMsg: 'connectSocket:fail exceed max task count' });
        if (complete) complete({});
      });
      return;
    }
    this.ws = new WebSocket(url, { headers: header });
    this.ws.on('open', () => this.emit('open', { header: {} }));
    this.ws.on('message', (data, isBinary) => {
      if (this.frozen) return;
      const d = isBinary ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data.toString();
      this.emit('message', { data: d });
    });
    this.ws.on('close', (code, reason) => {
      this.released = true;
      if (!this.frozen) this.emit('close', { code, reason: reason.toString() });
    });
    this.ws.on('error', (err) => {
      if (!this.frozen) this.emit('error', { errMsg: 'connectSocket:fail ' + err.message });
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
    if (this.ws.readyState !== WebSocket.OPEN) {
      if (fail) fail({ errMsg: 'sendSocketMessage:fail WebSocket is not connected' });
      return;
    }
    if (typeof data !== 'string' && !(data instanceof ArrayBuffer)) {
      throw new TypeError('SocketTask.send: data must be a string or an ArrayBuffer');
    }
    this.ws.send(typeof data === 'string' ? data : Buffer.from(data));
    if (success) success({});
  }

  close({ code = 1000, reason = '' } = {}) {
    this.released = true;
    if (this.frozen) {
      this.ws.terminate();
      return;
    }
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close(code, reason);
  }

  // freeze makes the socket dead without telling anyone, as after a long
  // background: nothing more arrives, sends vanish, onClose never fires.
  freeze() {
    this.frozen = true;
  }
}
