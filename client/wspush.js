/*!
 * wspush client SDK: one connection to a wspush server from WeChat
 * mini-programs, uni-app, Taro and browsers. No dependencies, no build step:
 * copy this file, require() it, import it (wspush.mjs) or load it with a
 * <script> tag (it then defines the global WsPush). See client/README.md.
 */
(function (root, factory) {
  var WsPush = factory();
  if (typeof module === 'object' && module && module.exports) {
    module.exports = WsPush;
  } else if (root) {
    root.WsPush = WsPush;
  }
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  // DISCONNECTS mirrors server.Disconnects in server/disconnect.go: why the
  // server closed a connection on purpose, and whether to come back. It is
  // the SDK's only copy; client/disconnect_test.go checks that it equals
  // the server's table. Codes 4000-4499 reconnect, 4500-4999 do not.
  var DISCONNECTS = [
    { code: 4000, name: 'going_away', reconnect: true },
    { code: 4001, name: 'idle_timeout', reconnect: true },
    { code: 4002, name: 'slow_consumer', reconnect: true },
    { code: 4003, name: 'token_expired', reconnect: true },
    { code: 4004, name: 'rate_limited', reconnect: true },
    { code: 4005, name: 'message_too_big', reconnect: true },
    { code: 4500, name: 'kicked', reconnect: false },
    { code: 4501, name: 'protocol_error', reconnect: false },
    { code: 4502, name: 'invalid_utf8', reconnect: false },
    { code: 4503, name: 'unauthorized', reconnect: false }
  ];

  var DEFAULTS = {
    minDelay: 1000,
    maxDelay: 30000,
    factor: 2,
    jitter: 0.5,
    stableAfter: 10000,
    maxAttempts: Infinity,
    connectTimeout: 10000,
    heartbeatTimeout: 0, // 0: the smaller of 10 s and the server's ping interval
    resumeTimeout: 3000,
    requestTimeout: 10000,
    queueSize: 20,
    queueOverflow: 'drop-oldest',
    maxRate: 15
  };

  function noop() {}

  // describe turns a close code (from a disconnect message or a close
  // frame) into the disconnect event's fields.
  function describe(code, reason, reconnect) {
    var d = { code: code || 0, name: 'closed', reason: reason || '', reconnect: true };
    for (var i = 0; i < DISCONNECTS.length; i++) {
      if (DISCONNECTS[i].code === d.code) {
        d.name = DISCONNECTS[i].name;
        d.reconnect = DISCONNECTS[i].reconnect;
      }
    }
    if (d.code >= 4500 && d.code <= 4999) {
      d.reconnect = false;
    }
    if (typeof reconnect === 'boolean') {
      d.reconnect = reconnect;
    }
    return d;
  }

  // backoffDelay is how long to wait before reconnect attempt number
  // attempt (0 for the first): the ceiling min(maxDelay, minDelay *
  // factor^attempt), less a random share of up to jitter of it. Every
  // delay lies in [minDelay * (1 - jitter), maxDelay].
  function backoffDelay(attempt, options, random) {
    var o = merge(DEFAULTS, options);
    var r = (random || Math.random)();
    var ceil = Math.min(o.maxDelay, o.minDelay * Math.pow(o.factor, Math.max(0, attempt)));
    return Math.round(ceil * (1 - o.jitter * r));
  }

  // posAfter reports whether stream position a ("MS-SEQ") comes after b.
  function posAfter(a, b) {
    var x = String(a).split('-'), y = String(b).split('-');
    var am = Number(x[0]), bm = Number(y[0]);
    if (am !== bm) return am > bm;
    return Number(x[1] || 0) > Number(y[1] || 0);
  }

  // WsPushError is how requests reject and what the error event carries.
  // code is the server's error code (forbidden, bad_request, too_large,
  // ...) or one of the SDK's own: timeout, disconnected, queue_full,
  // closed, cancelled, socket, connect_timeout, bad_message.
  function WsPushError(code, message) {
    var e = new Error(message || code);
    e.name = 'WsPushError';
    e.code = code;
    if (Object.setPrototypeOf) {
      Object.setPrototypeOf(e, WsPushError.prototype);
    }
    return e;
  }
  WsPushError.prototype = Object.create(Error.prototype);
  WsPushError.prototype.constructor = WsPushError;

  function merge(a, b) {
    var out = {};
    var k;
    for (k in a) out[k] = a[k];
    for (k in b || {}) if (b[k] !== undefined) out[k] = b[k];
    return out;
  }

  // toArrayBuffer returns binary data as an ArrayBuffer holding exactly its
  // bytes: mini-programs on real devices send nothing for a typed array.
  function toArrayBuffer(data) {
    if (typeof ArrayBuffer === 'undefined' || data instanceof ArrayBuffer) return data;
    if (ArrayBuffer.isView(data)) {
      return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    }
    return data;
  }

  // ---- adapters: one shape for every platform's socket ----
  //
  // An adapter is {name, headers, connect(url, opts), lifecycle}. connect
  // opens one socket and returns {send(data), close(code, reason)}; it
  // reports through opts.onOpen(), onMessage(data), onClose(code, reason)
  // and onError(err). headers says whether the socket can send HTTP
  // headers on the upgrade (mini-programs can, browsers cannot).
  // lifecycle(onShow, onHide), when present, hooks the app's foreground
  // and background events and returns a function that unhooks them.

  // miniProgram adapts an API object with connectSocket returning a
  // SocketTask: wx, uni, qq, tt, swan, or Taro (whose connectSocket
  // returns a Promise of the task).
  function miniProgram(api, name) {
    return {
      name: name || 'miniprogram',
      headers: true,
      connect: function (url, h) {
        var task = null;
        var closed = null; // close() called before Taro's task arrived
        var failed = false;
        function fail(res) {
          if (!failed) {
            failed = true;
            h.onError(WsPushError('socket', (res && res.errMsg) || 'connectSocket failed'));
          }
        }
        function wire(t) {
          task = t;
          t.onOpen(function () { h.onOpen(); });
          t.onMessage(function (res) { h.onMessage(res && res.data); });
          t.onClose(function (res) { h.onClose(res && res.code, res && res.reason); });
          t.onError(function (res) { fail(res); });
          if (closed) {
            t.close({ code: closed.code, reason: closed.reason, fail: noop });
          }
        }
        // uni-app returns the task only when a callback is given.
        var r = api.connectSocket({ url: url, header: h.headers, complete: noop, fail: fail });
        if (r && typeof r.then === 'function') {
          r.then(wire, fail);
        } else if (r) {
          wire(r);
        } else {
          fail({ errMsg: 'connectSocket returned no SocketTask' });
        }
        return {
          send: function (data) {
            if (task) task.send({ data: toArrayBuffer(data), fail: fail });
          },
          close: function (code, reason) {
            if (task) {
              task.close({ code: code, reason: reason, fail: noop });
            } else {
              closed = { code: code, reason: reason };
            }
          }
        };
      },
      lifecycle: typeof api.onAppShow === 'function' && typeof api.onAppHide === 'function'
        ? function (onShow, onHide) {
          api.onAppShow(onShow);
          api.onAppHide(onHide);
          return function () {
            if (api.offAppShow) api.offAppShow(onShow);
            if (api.offAppHide) api.offAppHide(onHide);
          };
        }
        : null
    };
  }

  // browser adapts the WebSocket constructor (the global one by default).
  // Browsers cannot set headers, so the token goes in ?token=.
  function browser(WS) {
    return {
      name: 'browser',
      headers: false,
      connect: function (url, h) {
        var Ctor = WS || (typeof WebSocket !== 'undefined' ? WebSocket : null);
        if (!Ctor) throw WsPushError('socket', 'no WebSocket in this environment: pass options.adapter');
        var ws = new Ctor(url);
        ws.binaryType = 'arraybuffer';
        ws.onopen = function () { h.onOpen(); };
        ws.onmessage = function (e) { h.onMessage(e.data); };
        ws.onclose = function (e) { h.onClose(e.code, e.reason); };
        ws.onerror = function () { h.onError(WsPushError('socket', 'WebSocket error')); };
        return {
          send: function (data) { ws.send(toArrayBuffer(data)); },
          close: function (code, reason) { ws.close(code, reason); }
        };
      },
      lifecycle: typeof document !== 'undefined' && typeof addEventListener === 'function'
        ? function (onShow, onHide) {
          function vis() {
            if (document.visibilityState === 'hidden') onHide(); else onShow();
          }
          document.addEventListener('visibilitychange', vis);
          addEventListener('online', onShow);
          return function () {
            document.removeEventListener('visibilitychange', vis);
            removeEventListener('online', onShow);
          };
        }
        : null
    };
  }

  function globalApi(name) {
    var g = typeof globalThis !== 'undefined' ? globalThis : {};
    if (g[name] && typeof g[name].connectSocket === 'function') return g[name];
    /* global uni, wx, qq, tt, swan */
    try {
      switch (name) {
        case 'uni': return typeof uni !== 'undefined' ? uni : null;
        case 'wx': return typeof wx !== 'undefined' ? wx : null;
        case 'qq': return typeof qq !== 'undefined' ? qq : null;
        case 'tt': return typeof tt !== 'undefined' ? tt : null;
        case 'swan': return typeof swan !== 'undefined' ? swan : null;
      }
    } catch (e) {
      return null;
    }
    return null;
  }

  // resolveAdapter picks the adapter from options.adapter: an adapter
  // object, a platform name, or nothing to detect one (uni, wx, qq, tt,
  // swan, then the browser's WebSocket).
  function resolveAdapter(a) {
    if (a && typeof a === 'object') return a;
    var names = a ? [a] : ['uni', 'wx', 'qq', 'tt', 'swan'];
    for (var i = 0; i < names.length; i++) {
      if (names[i] === 'browser') return browser();
      var api = globalApi(names[i]);
      if (api && typeof api.connectSocket === 'function') return miniProgram(api, names[i]);
    }
    if (a) throw WsPushError('socket', 'no ' + a + '.connectSocket in this environment');
    return browser();
  }

  // ---- the client ----

  // WsPush is one connection to a wspush server, kept open across network
  // loss, server restarts and app backgrounding. See client/README.md for
  // its options, methods and events.
  function WsPush(options) {
    if (!(this instanceof WsPush)) return new WsPush(options);
    var o = merge(DEFAULTS, options);
    if (!o.url) throw new TypeError('wspush: options.url is required');
    this.options = o;
    this.adapter = resolveAdapter(o.adapter);
    this.state = 'closed';
    this.welcome = null;
    this._setTimeout = o.setTimeout || function (f, ms) { return setTimeout(f, ms); };
    this._clearTimeout = o.clearTimeout || function (t) { clearTimeout(t); };
    this._now = o.now || function () { return Date.now(); };
    this._random = o.random || Math.random;
    this._listeners = {};
    this._timers = {};
    this._rooms = {}; // joined rooms, rejoined on every connection
    // Positions of the last push handled per stream (the user's, and each
    // room's), for resuming after a reconnect; see docs/protocol.md.
    this._pos = { user: '', rooms: {} };
    this._history = true; // false once the server said it keeps none
    this._joins = {}; // room -> waiters of join() promises
    this._pending = {}; // ref -> request sent or queued
    this._queue = []; // requests waiting for a connection or for rate
    this._ref = 0;
    this._sock = null;
    this._gen = 0; // bumped whenever the current socket is given up
    this._attempt = 0;
    this._openedAt = 0;
    this._disconnect = null;
    this._tokens = o.maxRate > 0 ? o.maxRate : 0;
    this._tokensAt = 0;
    this._hidden = false;
    this._resumedAt = -Infinity;
    this._retryNow = false;
    this._unhook = null;
    if (o.lifecycle !== false && this.adapter.lifecycle) {
      var self = this;
      this._unhook = this.adapter.lifecycle(function () { self.resume(); }, function () { self.pause(); });
    }
  }

  WsPush.prototype = {
    constructor: WsPush,

    // ---- events ----

    on: function (event, fn) {
      (this._listeners[event] || (this._listeners[event] = [])).push(fn);
      return this;
    },
    off: function (event, fn) {
      var l = this._listeners[event];
      if (!l) return this;
      if (!fn) {
        delete this._listeners[event];
        return this;
      }
      for (var i = l.length - 1; i >= 0; i--) {
        if (l[i] === fn || l[i]._fn === fn) l.splice(i, 1);
      }
      return this;
    },
    once: function (event, fn) {
      var self = this;
      function w() {
        self.off(event, w);
        fn.apply(this, arguments);
      }
      w._fn = fn;
      return this.on(event, w);
    },
    _emit: function (event, a, b) {
      var l = this._listeners[event];
      if (!l) return;
      l = l.slice();
      for (var i = 0; i < l.length; i++) {
        try {
          l[i].call(this, a, b);
        } catch (e) {
          if (typeof console !== 'undefined') console.error('wspush: a ' + event + ' listener threw', e);
        }
      }
    },
    // _setState reports a change of state, and each retry scheduled while
    // reconnecting (info.delay, info.attempt).
    _setState: function (state, info) {
      if (state === this.state && state !== 'reconnecting') return;
      var prev = this.state;
      this.state = state;
      this._emit('state', state, merge({ prev: prev }, info));
    },

    // ---- timers, all named so that one place can clear them ----

    _timer: function (name, ms, fn) {
      this._clear(name);
      var self = this;
      this._timers[name] = this._setTimeout(function () {
        delete self._timers[name];
        fn.call(self);
      }, ms);
    },
    _clear: function (name) {
      if (this._timers[name] !== undefined) {
        this._clearTimeout(this._timers[name]);
        delete this._timers[name];
      }
    },

    // ---- connecting ----

    // connect opens the connection, if it is not open or opening already.
    connect: function () {
      if (this.state !== 'closed') return this;
      this._closing = false;
      this._attempt = 0;
      this._setState('connecting');
      this._open();
      return this;
    },

    // close closes the connection for good (until connect is called again):
    // no reconnect, and every queued or unanswered request rejects with
    // "closed". Joined rooms are kept for the next connect.
    close: function (code, reason) {
      var wasOpen = this.state === 'open';
      this._closing = true;
      this._gen++;
      this._clearAll();
      if (this._sock) {
        try {
          this._sock.close(code || 1000, reason || '');
        } catch (e) { /* already closed */ }
        this._sock = null;
      }
      this.welcome = null;
      this._failAll('closed', 'the client was closed');
      this._setState('closed');
      if (wasOpen) {
        this._emit('disconnect', { code: code || 1000, name: 'client_closed', reason: reason || '', reconnect: false });
      }
      return this;
    },

    // destroy closes the connection and unhooks the app lifecycle events.
    destroy: function () {
      this.close();
      if (this._unhook) this._unhook();
      this._unhook = null;
      this._listeners = {};
    },

    _clearAll: function () {
      for (var name in this._timers) this._clear(name);
    },

    _url: function (token) {
      var o = this.options;
      var q = [];
      var useQuery = o.tokenIn === 'query' || (o.tokenIn !== 'header' && !this.adapter.headers);
      if (token && useQuery) q.push('token=' + encodeURIComponent(token));
      if (o.user) q.push('user=' + encodeURIComponent(o.user));
      if (this._resumable()) q.push('resume=1');
      if (!q.length) return { url: o.url, headers: token ? { Authorization: 'Bearer ' + token } : {} };
      return {
        url: o.url + (o.url.indexOf('?') < 0 ? '?' : '&') + q.join('&'),
        headers: token && !useQuery ? { Authorization: 'Bearer ' + token } : {}
      };
    },

    // _open starts one connection attempt.
    _open: function () {
      var self = this;
      var gen = ++this._gen;
      var t = this.options.token;
      var p;
      try {
        p = Promise.resolve(typeof t === 'function' ? t() : t);
      } catch (e) {
        p = Promise.reject(e);
      }
      this._timer('connect', this.options.connectTimeout, function () {
        this._lost(gen, 0, 'no welcome within ' + this.options.connectTimeout + ' ms', 'connect_timeout');
      });
      p.then(function (token) {
        if (gen !== self._gen) return;
        var u = self._url(token);
        var h = {
          headers: u.headers,
          onOpen: noop, // the welcome message, not the socket's open, makes us open
          onMessage: function (data) { if (gen === self._gen) self._data(data); },
          onClose: function (code, reason) { if (gen === self._gen) self._lost(gen, code, reason); },
          onError: function (err) {
            if (gen !== self._gen) return;
            self._emit('error', err);
            self._lost(gen, 1006, err && err.message, 'socket_error');
          }
        };
        try {
          self._sock = self.adapter.connect(u.url, h);
        } catch (e) {
          h.onError(e);
        }
      }, function (err) {
        if (gen !== self._gen) return;
        self._emit('error', WsPushError('token', 'options.token failed: ' + (err && err.message)));
        self._lost(gen, 0, 'no token', 'token_error');
      });
    },

    // _lost gives up the socket of generation gen: it closed, failed, or
    // is presumed dead. Then it reconnects with backoff unless told not to.
    _lost: function (gen, code, reason, name) {
      if (gen !== this._gen || this._closing) return;
      this._gen++;
      var wasOpen = this.state === 'open';
      var fast = this._retryNow;
      this._retryNow = false;
      var sock = this._sock;
      this._sock = null;
      if (sock) {
        // Frees the slot (5 per mini-program) even if no close event ever
        // comes for this socket.
        try {
          sock.close(1000, '');
        } catch (e) { /* already closed */ }
      }
      this._clearAll();
      this.welcome = null;
      var d = this._disconnect || describe(code, reason);
      this._disconnect = null;
      if (name && d.name === 'closed') d.name = name;
      if (wasOpen && this._now() - this._openedAt >= this.options.stableAfter) {
        this._attempt = 0;
      }
      // Requests already sent cannot be answered on another connection.
      // Rejoins still queued are redone by the next connection's welcome.
      for (var ref in this._pending) {
        var r = this._pending[ref];
        if (r.sent || r.internal) this._settle(ref, WsPushError('disconnected', 'the connection closed before the answer; the request may or may not have been done'));
      }
      var stop = !d.reconnect || this._attempt >= this.options.maxAttempts;
      if (wasOpen) {
        this._emit('disconnect', { code: d.code, name: d.name, reason: d.reason, reconnect: !stop });
      }
      if (this._closing) return; // a disconnect listener called close()
      if (stop) {
        this._failAll('closed', 'disconnected: ' + d.name + (d.reason ? ' (' + d.reason + ')' : ''));
        this._setState('closed', { code: d.code, name: d.name, reason: d.reason });
        return;
      }
      var delay = 0;
      if (!fast) {
        delay = backoffDelay(this._attempt, this.options, this._random);
        this._attempt++;
      }
      if (d.retryAfter) delay = Math.max(delay, d.retryAfter);
      this._setState('reconnecting', { delay: delay, attempt: this._attempt });
      this._timer('retry', delay, this._open);
    },

    // ---- app lifecycle ----

    // pause is for the app going to the background (wx.onAppHide, a hidden
    // page): heartbeats stop, since timers freeze with the suspended JS
    // thread and would misfire all at once on return.
    pause: function () {
      this._hidden = true;
      this._clear('ping');
      this._clear('pong');
    },

    // resume is for the app coming back to the foreground. An open
    // connection is checked with a ping at once and replaced if no answer
    // comes within resumeTimeout; a connection waiting to retry retries
    // once now, and then goes on with its backoff.
    resume: function () {
      this._hidden = false;
      if (this._closing || this.state === 'closed') return;
      if (this.state === 'open') {
        this._resumedAt = this._now();
        var gen = this._gen;
        this._write({ type: 'ping' }, true);
        this._timer('pong', this.options.resumeTimeout, function () {
          this._retryNow = true; // a socket that died in the background: retry at once
          this._lost(gen, 0, 'no answer to a ping after returning to the foreground', 'heartbeat_timeout');
        });
        this._schedulePing();
      } else if (this._timers.retry !== undefined && this._now() - this._resumedAt >= this.options.minDelay) {
        // One attempt now; if it fails the backoff goes on where it was.
        this._resumedAt = this._now();
        this._clear('retry');
        this._open();
      }
    },

    // ---- heartbeats ----

    _schedulePing: function () {
      var ms = (this.welcome && this.welcome.ping) || 25000;
      this._timer('ping', ms, function () {
        var gen = this._gen;
        this._write({ type: 'ping' }, true);
        if (this._timers.pong === undefined) {
          var wait = this.options.heartbeatTimeout || Math.min(10000, ms);
          this._timer('pong', wait, function () {
            this._lost(gen, 0, 'no answer to a ping within ' + wait + ' ms', 'heartbeat_timeout');
          });
        }
        this._schedulePing();
      });
    },

    // ---- inbound ----

    _data: function (data) {
      this._clear('pong'); // any message proves the connection alive
      if (typeof data !== 'string') {
        this._emit('binary', toArrayBuffer(data));
        return;
      }
      var m;
      try {
        m = JSON.parse(data);
      } catch (e) {
        this._emit('error', WsPushError('bad_message', 'a message that is not JSON: ' + data.slice(0, 64)));
        return;
      }
      if (!m || typeof m !== 'object') return;
      switch (m.type) {
        case 'welcome':
          this._welcome(m);
          break;
        case 'push':
          // A push the resume replay already gave is not handled twice.
          if (m.pos && !this._advance(m.room, m.pos)) break;
          this._emit(m.room !== undefined ? 'message' : 'push', m);
          break;
        case 'gap':
          // The server lost messages of this stream after our position:
          // the app re-syncs it from its backend, and we go on from pos.
          if (m.pos) this._setPos(m.room, m.pos);
          this._emit('gap', { room: m.room, pos: m.pos });
          break;
        case 'ack':
          this._settle(m.ref, null, m);
          break;
        case 'error':
          if (m.ref !== undefined && this._pending[m.ref]) {
            this._settle(m.ref, WsPushError(m.code, m.message));
          } else {
            this._emit('error', WsPushError(m.code, m.message));
          }
          break;
        case 'disconnect':
          // The close frame follows, but mini-programs do not reliably
          // report its code: act on this message and close now.
          this._disconnect = describe(m.code, m.reason, m.reconnect);
          // A draining server spreads its clients' returns: wait at least
          // retry_after ms (capped at maxDelay) before coming back.
          if (typeof m.retry_after === 'number' && m.retry_after > 0) {
            this._disconnect.retryAfter = Math.min(m.retry_after, this.options.maxDelay);
          }
          this._lost(this._gen, m.code, m.reason);
          break;
      }
    },

    _welcome: function (m) {
      this._clear('connect');
      this.welcome = m;
      this._openedAt = this._now();
      this._tokens = this.options.maxRate;
      this._tokensAt = this._openedAt;
      // Rooms first, then what waited in the queue, in order; what state
      // listeners send goes after them.
      var rejoin = [];
      if (this._resumable()) {
        rejoin.push(this._resumeRequest());
      } else {
        for (var room in this._rooms) {
          if (this._rooms[room]) rejoin.push(this._joinRequest(room));
        }
      }
      this._queue = rejoin.concat(this._queue);
      var gen = this._gen;
      this._setState('open', { conn: m.conn, user: m.user });
      if (gen !== this._gen) return; // a listener closed it
      if (!this._hidden) this._schedulePing();
      this._drain();
      this._emit('open', m);
    },

    // ---- outbound ----

    // _write sends msg now on the open socket. Heartbeats (force) go out
    // whatever the rate allowance; they still use it up.
    _write: function (msg, force) {
      if (!this._sock || this.state !== 'open') return false;
      this._refill();
      if (!force && this.options.maxRate > 0 && this._tokens < 1) return false;
      this._tokens--;
      try {
        this._sock.send(JSON.stringify(msg));
      } catch (e) {
        this._emit('error', WsPushError('socket', 'send failed: ' + e.message));
        return false;
      }
      return true;
    },

    _refill: function () {
      var o = this.options;
      if (!(o.maxRate > 0)) return;
      var now = this._now();
      this._tokens = Math.min(o.maxRate, this._tokens + (now - this._tokensAt) * o.maxRate / 1000);
      this._tokensAt = now;
    },

    // _drain sends queued requests as fast as maxRate allows. The server
    // disconnects a client past its --max-rate; the SDK stays under it.
    _drain: function () {
      this._clear('drain');
      if (this.state !== 'open') return;
      while (this._queue.length) {
        var r = this._queue[0];
        if (!this._write(r.msg)) break;
        this._queue.shift();
        r.sent = true;
      }
      if (this._queue.length && this.options.maxRate > 0) {
        var wait = Math.max(1, Math.ceil((1 - this._tokens) * 1000 / this.options.maxRate));
        this._timer('drain', wait, this._drain);
      }
    },

    // _request sends msg with a new ref, or queues it, and returns a promise
    // of the ack. internal requests (rejoins) skip the queue bound.
    _request: function (msg, internal) {
      var self = this;
      var ref = ++this._ref;
      msg.ref = ref;
      var r = { msg: msg, ref: ref, sent: false, internal: !!internal };
      var p = new Promise(function (resolve, reject) {
        r.resolve = resolve;
        r.reject = reject;
      });
      if (internal) return { r: r, p: p };
      if (this.state === 'closed') {
        r.reject(WsPushError('closed', 'the client is closed: call connect()'));
        return p;
      }
      var o = this.options;
      this._pending[ref] = r;
      r.timer = this._setTimeout(function () {
        self._settle(ref, WsPushError('timeout', 'no answer within ' + o.requestTimeout + ' ms'));
      }, o.requestTimeout);
      if (this.state === 'open' && !this._queue.length && this._write(msg)) {
        r.sent = true;
        return p;
      }
      var queued = this._queue.filter(function (q) { return !q.internal; });
      if (queued.length >= o.queueSize) {
        if (o.queueOverflow === 'reject' || !queued.length) {
          this._settle(ref, WsPushError('queue_full', 'the send queue is full (' + o.queueSize + ')'));
          return p;
        }
        this._settle(queued[0].ref, WsPushError('queue_full', 'dropped from a full send queue (' + o.queueSize + ')'));
      }
      this._queue.push(r);
      if (this.state === 'open') this._drain();
      return p;
    },

    // _settle ends request ref: rejected with err, or resolved with ack.
    _settle: function (ref, err, ack) {
      var r = this._pending[ref];
      if (!r) return;
      delete this._pending[ref];
      this._clearTimeout(r.timer);
      var i = this._queue.indexOf(r);
      if (i >= 0) this._queue.splice(i, 1);
      if (err) r.reject(err); else r.resolve(ack);
    },

    _failAll: function (code, message) {
      for (var ref in this._pending) this._settle(ref, WsPushError(code, message));
      this._queue = [];
      for (var room in this._joins) this._settleJoin(room, WsPushError(code, message));
    },

    // _joinRequest is the request that joins room on this connection; its
    // answer settles the join() promises waiting for room.
    _joinRequest: function (room) {
      var self = this;
      var q = this._request({ type: 'join', room: room }, true);
      var r = q.r;
      this._pending[r.ref] = r;
      r.timer = this._setTimeout(function () {
        self._settle(r.ref, WsPushError('timeout', 'no answer to join ' + room));
      }, this.options.requestTimeout);
      q.p.then(function () {
        self._settleJoin(room, null);
      }, function (err) {
        if (err.code === 'disconnected' || err.code === 'timeout' || err.code === 'closed') return; // next connection retries
        delete self._rooms[room];
        if (!self._settleJoin(room, err)) self._emit('error', err);
      });
      return r;
    },

    // ---- resume ----

    // _resumable reports whether the next connection resumes: the client
    // has seen a position, resume is on, and the server keeps history.
    _resumable: function () {
      if (this.options.resume === false || !this._history) return false;
      if (this._pos.user) return true;
      for (var room in this._pos.rooms) {
        if (this._rooms[room]) return true;
      }
      return false;
    },

    // _resumeRequest asks the server for what the streams missed since our
    // positions, joining our rooms as it does: one request instead of a
    // join per room. If the server keeps no history, or refuses, the rooms
    // are joined one by one as on a first connection.
    _resumeRequest: function () {
      var self = this;
      var rooms = {};
      for (var room in this._rooms) {
        if (this._rooms[room]) rooms[room] = this._pos.rooms[room] || '';
      }
      var msg = { type: 'resume', rooms: rooms };
      if (this._pos.user) msg.user_pos = this._pos.user;
      var q = this._request(msg, true);
      var r = q.r;
      this._pending[r.ref] = r;
      r.timer = this._setTimeout(function () {
        self._settle(r.ref, WsPushError('timeout', 'no answer to resume'));
      }, this.options.requestTimeout);
      q.p.then(function () {
        for (var room in rooms) self._settleJoin(room, null);
        self._emit('resumed', { rooms: Object.keys(rooms) });
      }, function (err) {
        if (err.code === 'disconnected' || err.code === 'timeout' || err.code === 'closed') return; // next connection retries
        if (err.code === 'no_history') self._history = false;
        if (self.state !== 'open') return;
        for (var room in rooms) {
          if (!self._rooms[room]) continue;
          var j = self._joinRequest(room);
          self._queue.push(j);
        }
        self._drain();
      });
      return r;
    },

    // _advance records pos as the last position of a stream (room, or the
    // user's when room is undefined) and reports whether it is new.
    _advance: function (room, pos) {
      var last = room !== undefined ? this._pos.rooms[room] : this._pos.user;
      if (last && !posAfter(pos, last)) return false;
      this._setPos(room, pos);
      return true;
    },

    _setPos: function (room, pos) {
      if (room !== undefined) this._pos.rooms[room] = pos;
      else this._pos.user = pos;
    },

    // positions returns the last position seen per stream, for an app that
    // keeps them across restarts; setPositions gives them back.
    positions: function () {
      var rooms = {};
      for (var room in this._pos.rooms) rooms[room] = this._pos.rooms[room];
      return { user: this._pos.user, rooms: rooms };
    },

    setPositions: function (p) {
      this._pos = { user: (p && p.user) || '', rooms: {} };
      if (p && p.rooms) for (var room in p.rooms) this._pos.rooms[room] = p.rooms[room];
    },

    _settleJoin: function (room, err) {
      var w = this._joins[room];
      if (!w) return false;
      delete this._joins[room];
      for (var i = 0; i < w.length; i++) {
        this._clearTimeout(w[i].timer);
        if (err) w[i].reject(err); else w[i].resolve();
      }
      return true;
    },

    // ---- the API ----

    // join joins room now (or on the next connection, when not open) and
    // on every later connection, until leave. The promise resolves once
    // the server acknowledged the join, and rejects if the server refuses
    // it (the room is then forgotten) or nothing acknowledges it within
    // requestTimeout (the room is still rejoined on later connections).
    join: function (room) {
      var self = this;
      var p = new Promise(function (resolve, reject) {
        var w = { resolve: resolve, reject: reject };
        w.timer = self._setTimeout(function () {
          var l = self._joins[room] || [];
          var i = l.indexOf(w);
          if (i >= 0) l.splice(i, 1);
          reject(WsPushError('timeout', 'join ' + room + ' not acknowledged within ' + self.options.requestTimeout + ' ms'));
        }, self.options.requestTimeout);
        (self._joins[room] || (self._joins[room] = [])).push(w);
      });
      this._rooms[room] = true;
      if (this.state === 'open') {
        if (!this._joinInFlight(room)) {
          var r = this._joinRequest(room);
          if (this._queue.length || !this._write(r.msg)) {
            this._queue.push(r);
            this._drain();
          } else {
            r.sent = true;
          }
        }
      }
      return p;
    },

    _joinInFlight: function (room) {
      for (var ref in this._pending) {
        var m = this._pending[ref].msg;
        if (m.type === 'join' && m.room === room) return true;
      }
      return false;
    },

    // leave leaves room and stops rejoining it.
    leave: function (room) {
      delete this._rooms[room];
      delete this._pos.rooms[room];
      this._settleJoin(room, WsPushError('cancelled', 'left ' + room + ' before the join was acknowledged'));
      if (this.state !== 'open') return Promise.resolve();
      return this._request({ type: 'leave', room: room });
    },

    // rooms lists the rooms joined through join.
    rooms: function () {
      return Object.keys(this._rooms);
    },

    // publish sends data to every member of room (the sender too, if a
    // member). Resolves on the server's ack.
    publish: function (room, data) {
      return this._request({ type: 'publish', room: room, data: data });
    },

    // send sends data to every connection of user. Resolves on the ack.
    send: function (user, data) {
      return this._request({ type: 'send', to: user, data: data });
    },

    // request sends any client-protocol message with a ref and resolves on
    // its ack; the way to use message types this SDK does not know yet.
    request: function (msg) {
      return this._request(merge({}, msg));
    },

    // sendBinary sends an ArrayBuffer (or typed array) as one binary
    // message on the open connection, and reports whether it went out.
    // Binary messages are not queued.
    sendBinary: function (data) {
      if (!this._sock || this.state !== 'open') return false;
      this._sock.send(toArrayBuffer(data));
      return true;
    }
  };

  WsPush.WsPush = WsPush;
  WsPush.default = WsPush;
  WsPush.WsPushError = WsPushError;
  WsPush.Disconnects = DISCONNECTS.map(function (d) { return merge({}, d); });
  WsPush.describeDisconnect = function (code, reason) { return describe(code, reason); };
  WsPush.backoffDelay = backoffDelay;
  WsPush.defaults = merge({}, DEFAULTS);
  WsPush.adapters = {
    miniProgram: miniProgram,
    wx: function (api) { return miniProgram(api || globalApi('wx'), 'wx'); },
    uni: function (api) { return miniProgram(api || globalApi('uni'), 'uni'); },
    taro: function (Taro) { return miniProgram(Taro, 'taro'); },
    browser: browser
  };
  return WsPush;
});
