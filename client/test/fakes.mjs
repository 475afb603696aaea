// Test doubles that need no server: a manual clock and an adapter whose
// sockets the test drives by hand.

// Clock is a manual clock for the client's setTimeout, clearTimeout and now.
export class Clock {
  constructor() {
    this.t = 0;
    this.seq = 0;
    this.timers = new Map();
    this.setTimeout = (fn, ms) => {
      const id = ++this.seq;
      this.timers.set(id, { at: this.t + Math.max(0, ms), fn, id });
      return id;
    };
    this.clearTimeout = (id) => { this.timers.delete(id); };
    this.now = () => this.t;
  }

  // advance moves the clock forward by ms, running every timer that comes
  // due on the way, in order.
  async advance(ms) {
    const end = this.t + ms;
    for (;;) {
      await flush();
      let next = null;
      for (const tm of this.timers.values()) {
        if (tm.at <= end && (!next || tm.at < next.at || (tm.at === next.at && tm.id < next.id))) next = tm;
      }
      if (!next) break;
      this.timers.delete(next.id);
      this.t = next.at;
      next.fn();
    }
    this.t = end;
    await flush();
  }
}

// flush lets pending promise callbacks run.
export function flush() {
  return new Promise((resolve) => setImmediate(resolve));
}

// FakeAdapter records the sockets a client opens; the test plays the server.
export class FakeAdapter {
  constructor({ headers = true } = {}) {
    this.name = 'fake';
    this.headers = headers;
    this.sockets = [];
    this.lifecycle = (onShow, onHide) => {
      this.show = onShow;
      this.hide = onHide;
      return () => {};
    };
  }

  connect(url, h) {
    const s = {
      url,
      h,
      sent: [],
      closed: null,
      send(data) { s.sent.push(typeof data === 'string' ? JSON.parse(data) : data); },
      closes: 0,
      close(code, reason) { s.closed = { code, reason }; s.closes++; },
      // Server side of the fake.
      open(user = 'u', ping = 25000, conn = 'c' + this.sockets.length) {
        h.onOpen();
        s.recv({ type: 'welcome', conn, user, ping });
      },
      recv(msg) { h.onMessage(JSON.stringify(msg)); },
      drop(code = 1006, reason = '') { h.onClose(code, reason); },
      fail(msg = 'refused') { h.onError(new Error(msg)); }
    };
    s.open = s.open.bind(this);
    this.sockets.push(s);
    return s;
  }

  get last() {
    return this.sockets[this.sockets.length - 1];
  }
}
