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

  // DISCONNECTS mirrors server.Disconnects in server/internal/wire/disconnect.go: why the
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
    { code: 4006, name: 'connect_unavailable', reconnect: true },
    { code: 4500, name: 'kicked', reconnect: false },
    { code: 4501, name: 'protocol_error', reconnect: false },
    { code: 4502, name: 'invalid_utf8', reconnect: false },
    { code: 4503, name: 'unauthorized', reconnect: false },
    { code: 4504, name: 'replaced', reconnect: false },
    { code: 4505, name: 'refused', reconnect: false }
  ];

  // The query parameters the SDK sets itself, which options.query may not.
  var RESERVED_QUERY = { auth: true, token: true, user: true, resume: true };

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
    maxRate: 15,
    closeTimeout: 5000,
    refreshBefore: 60000,
    receipts: true, // acknowledge pushes that ask for a receipt, after their handlers
    receiptDelay: 250 // ms an acknowledgement waits for others to go in one message (docs/benchmarks.md)
  };

  // MAX_RECEIPT_IDS mirrors engine.MaxReceivedIDs: the most ids one
  // {"type":"received"} message may carry. MAX_HELD_RECEIPTS bounds the
  // acknowledgements kept while disconnected (the oldest go first: their
  // receipts have likely timed out by then).
  var MAX_RECEIPT_IDS = 256;
  var MAX_HELD_RECEIPTS = 1024;

  function noop() {}

  // describe turns a close code (from a disconnect message or a close
  // frame) into the disconnect event's fields.
  function describe(code, reason, reconnect) {
    // Douyin reports close codes as strings: compare numbers.
    var d = { code: Number(code) || 0, name: 'closed', reason: reason || '', reconnect: true };
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
  // An adapter is {name, headers, connect(url, opts), lifecycle, network}.
  // connect opens one socket and returns {send(data, onFail), close(code,
  // reason)}; it reports through opts.onOpen(), onMessage(data),
  // onClose(code, reason) and onError(err). opts.socket holds the
  // connectSocket options to pass through (timeout, tcpNoDelay, ...).
  // headers says whether the socket sends HTTP headers on the upgrade
  // (mini-programs do; browsers, uni-app H5 and Taro H5 do not: the token
  // then goes in the query). lifecycle(onShow, onHide) hooks the app's
  // foreground and background events, network(onChange) its network
  // status (onChange(online)); each returns a function that unhooks.

  // CLOSE_REASON_BYTES is the longest close reason browsers accept: RFC
  // 6455 5.5 allows 125 bytes of close payload, 2 of them the code.
  var CLOSE_REASON_BYTES = 123;

  // utf8Length is the length of s in UTF-8 bytes.
  function utf8Length(s) {
    var n = 0;
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c < 0x80) n += 1;
      else if (c < 0x800) n += 2;
      else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) { n += 4; i++; }
      else n += 3;
    }
    return n;
  }

  // closeArgs makes a close code and reason every platform accepts:
  // browsers throw for codes other than 1000 and 3000-4999 and for reasons
  // over 123 bytes (https://developer.mozilla.org/en-US/docs/Web/API/WebSocket/close),
  // and a mini-program's SocketTask.close fails silently for them.
  function closeArgs(code, reason) {
    code = Number(code);
    if (!(code === 1000 || (code >= 3000 && code <= 4999))) code = 1000;
    reason = String(reason || '');
    while (utf8Length(reason) > CLOSE_REASON_BYTES) reason = reason.slice(0, -1);
    return { code: code, reason: reason };
  }

  // errText is a platform's error text: errMsg on WeChat, uni-app, Taro and
  // Douyin; errorMessage on Alipay (https://opendocs.alipay.com/mini/api/vx19c3).
  function errText(res, fallback) {
    return (res && (res.errMsg || res.errorMessage || res.message)) || fallback;
  }

  // socketError turns a connectSocket failure into a WsPushError. WeChat
  // refuses a sixth socket with "exceed max task count"
  // (https://developers.weixin.qq.com/miniprogram/dev/api/network/websocket/wx.connectSocket.html):
  // retrying cannot help, so it gets its own code, max_sockets.
  function socketError(res, fallback) {
    var text = errText(res, fallback);
    if (/max task count|max.*socket|too many/i.test(text)) {
      return WsPushError('max_sockets', text + ': a mini-program holds at most 5 sockets; share one client per URL (WsPush.shared) and release it on page unload');
    }
    return WsPushError('socket', text);
  }

  // webRuntime reports whether api runs in a browser, where connectSocket
  // is the browser's WebSocket and sends no headers: uni-app H5
  // (uniPlatform "web": https://uniapp.dcloud.net.cn/api/system/info.html;
  // header unsupported on H5: https://uniapp.dcloud.net.cn/api/request/websocket.html)
  // and Taro H5 (getEnv() "WEB": https://docs.taro.zone/docs/apis/about/env).
  function webRuntime(api) {
    try {
      if (typeof api.getEnv === 'function' && api.ENV_TYPE && api.getEnv() === api.ENV_TYPE.WEB) return true;
      if (typeof api.getSystemInfoSync === 'function') {
        var info = api.getSystemInfoSync();
        if (info && info.uniPlatform === 'web') return true;
      }
    } catch (e) { /* not that platform */ }
    return false;
  }

  var SOCKET_OPTIONS = ['timeout', 'tcpNoDelay', 'perMessageDeflate', 'forceCellularNetwork', 'protocols'];

  // miniProgram adapts an API object with connectSocket returning a
  // SocketTask: wx, uni, qq, tt, swan, my (Alipay), or Taro (whose
  // connectSocket returns a Promise of the task).
  function miniProgram(api, name) {
    name = name || 'miniprogram';
    return {
      name: name,
      headers: !webRuntime(api),
      connect: function (url, h) {
        var task = null;
        var closed = null; // close() called before Taro's task arrived
        var failed = false;
        function fail(res) {
          if (!failed) {
            failed = true;
            h.onError(socketError(res, 'connectSocket failed'));
          }
        }
        function closeTask(t, c) {
          // Douyin documents only 1000 for close
          // (https://developer.open-douyin.com/docs/resource/zh-CN/mini-app/develop/api/network/websocket/socket-task/close).
          var code = name === 'tt' ? 1000 : c.code;
          t.close({
            code: code,
            reason: c.reason,
            fail: function () {
              // A close that fails leaves the socket open: close plainly.
              try { t.close({}); } catch (e) { /* gone */ }
            }
          });
        }
        function wire(t) {
          if (!t || typeof t.onOpen !== 'function') {
            fail({ errMsg: 'connectSocket returned no SocketTask' });
            return;
          }
          task = t;
          t.onOpen(function () { h.onOpen(); });
          t.onMessage(function (res) { h.onMessage(res && res.data); });
          // Douyin reports codes as strings ("4500"); compare numbers.
          t.onClose(function (res) { h.onClose(Number(res && res.code) || 0, res && res.reason); });
          t.onError(function (res) { fail(res); });
          if (closed) closeTask(t, closed);
        }
        var o = { url: url, header: h.headers, complete: noop, fail: fail };
        for (var i = 0; i < SOCKET_OPTIONS.length; i++) {
          var k = SOCKET_OPTIONS[i];
          if (h.socket && h.socket[k] !== undefined) o[k] = h.socket[k];
        }
        // Alipay returns a SocketTask only with multiple: true
        // (https://opendocs.alipay.com/mini/api/vx19c3).
        if (name === 'my') o.multiple = true;
        // uni-app returns the task only when a callback is given
        // (https://uniapp.dcloud.net.cn/api/request/websocket.html).
        var r = api.connectSocket(o);
        if (r && typeof r.then === 'function') {
          r.then(wire, fail);
        } else if (r) {
          wire(r);
        } else if (!failed) {
          fail({ errMsg: 'connectSocket returned no SocketTask' + (name === 'my' ? '' : ' (Alipay: pass adapter "my")') });
        }
        return {
          // send reports a failed send through onFail: the connection
          // itself may be fine, and it is the heartbeat's job to tell.
          send: function (data, onFail) {
            if (!task) {
              if (onFail) onFail(WsPushError('send_failed', 'the socket is not open yet'));
              return;
            }
            task.send({
              data: toArrayBuffer(data),
              fail: function (res) { if (onFail) onFail(WsPushError('send_failed', errText(res, 'send failed'))); }
            });
          },
          close: function (code, reason) {
            var c = closeArgs(code, reason);
            if (task) closeTask(task, c);
            else closed = c;
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
        : null,
      // https://developers.weixin.qq.com/miniprogram/dev/api/device/network/wx.onNetworkStatusChange.html
      network: typeof api.onNetworkStatusChange === 'function'
        ? function (onChange) {
          function f(res) { onChange(!!(res && res.isConnected)); }
          api.onNetworkStatusChange(f);
          return function () {
            if (api.offNetworkStatusChange) api.offNetworkStatusChange(f);
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
        var protocols = h.socket && h.socket.protocols;
        var ws = protocols ? new Ctor(url, protocols) : new Ctor(url);
        ws.binaryType = 'arraybuffer';
        ws.onopen = function () { h.onOpen(); };
        ws.onmessage = function (e) { h.onMessage(e.data); };
        ws.onclose = function (e) { h.onClose(e.code, e.reason); };
        ws.onerror = function () { h.onError(WsPushError('socket', 'WebSocket error')); };
        return {
          send: function (data, onFail) {
            try {
              ws.send(toArrayBuffer(data));
            } catch (e) {
              if (onFail) onFail(WsPushError('send_failed', 'send failed: ' + e.message));
            }
          },
          close: function (code, reason) {
            var c = closeArgs(code, reason);
            ws.close(c.code, c.reason);
          }
        };
      },
      lifecycle: typeof document !== 'undefined' && typeof addEventListener === 'function'
        ? function (onShow, onHide) {
          function vis() {
            if (document.visibilityState === 'hidden') onHide(); else onShow();
          }
          document.addEventListener('visibilitychange', vis);
          return function () {
            document.removeEventListener('visibilitychange', vis);
          };
        }
        : null,
      network: typeof addEventListener === 'function' && typeof navigator !== 'undefined'
        ? function (onChange) {
          function on() { onChange(true); }
          function off() { onChange(false); }
          addEventListener('online', on);
          addEventListener('offline', off);
          if (navigator.onLine === false) onChange(false);
          return function () {
            removeEventListener('online', on);
            removeEventListener('offline', off);
          };
        }
        : null
    };
  }

  function globalApi(name) {
    var g = typeof globalThis !== 'undefined' ? globalThis : {};
    if (g[name] && typeof g[name].connectSocket === 'function') return g[name];
    /* global uni, wx, qq, tt, swan, my */
    try {
      switch (name) {
        case 'uni': return typeof uni !== 'undefined' ? uni : null;
        case 'wx': return typeof wx !== 'undefined' ? wx : null;
        case 'qq': return typeof qq !== 'undefined' ? qq : null;
        case 'tt': return typeof tt !== 'undefined' ? tt : null;
        case 'swan': return typeof swan !== 'undefined' ? swan : null;
        case 'my': return typeof my !== 'undefined' ? my : null;
      }
    } catch (e) {
      return null;
    }
    return null;
  }

  // resolveAdapter picks the adapter from options.adapter: an adapter
  // object, a platform name, or nothing to detect one (uni, wx, qq, tt,
  // swan, my, then the browser's WebSocket).
  function resolveAdapter(a) {
    if (a && typeof a === 'object') return a;
    var names = a ? [a] : ['uni', 'wx', 'qq', 'tt', 'swan', 'my'];
    for (var i = 0; i < names.length; i++) {
      if (names[i] === 'browser') return browser();
      var api = globalApi(names[i]);
      if (api && typeof api.connectSocket === 'function') return miniProgram(api, names[i]);
    }
    if (a) throw WsPushError('socket', 'no ' + a + '.connectSocket in this environment');
    return browser();
  }

  // ---- the client ----

  // UnauthorizedError is what options.token throws to stop the client for
  // good (the user logged out): no more attempts, the unauthorized event,
  // state closed.
  function UnauthorizedError(message) {
    var e = new Error(message || 'unauthorized');
    e.name = 'UnauthorizedError';
    e.code = 'unauthorized';
    if (Object.setPrototypeOf) Object.setPrototypeOf(e, UnauthorizedError.prototype);
    return e;
  }
  UnauthorizedError.prototype = Object.create(Error.prototype);
  UnauthorizedError.prototype.constructor = UnauthorizedError;

  // jwtExp reads the exp claim of a JWT, in ms, without checking anything:
  // only to know when a cached token is stale. 0 when it has none.
  function jwtExp(token) {
    try {
      var part = String(token).split('.')[1];
      if (!part) return 0;
      part = part.replace(/-/g, '+').replace(/_/g, '/');
      while (part.length % 4) part += '=';
      var json = typeof atob === 'function' ? atob(part)
        : typeof Buffer !== 'undefined' ? Buffer.from(part, 'base64').toString('binary') : '';
      var exp = JSON.parse(json).exp;
      return typeof exp === 'number' ? exp * 1000 : 0;
    } catch (e) {
      return 0;
    }
  }

  function warnDefault(msg) {
    if (typeof console !== 'undefined' && console.warn) console.warn(msg);
  }

  // Clients not closed per URL, to catch two for one URL in one
  // mini-program (each holds one of its 5 sockets), and the shared ones
  // (WsPush.shared).
  var LIVE = {};
  var SHARED = {};
  var WARNED = {};

  function warnOnce(key, warn, msg) {
    if (WARNED[key]) return;
    WARNED[key] = true;
    warn(msg);
  }

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
    this._warn = o.warn || warnDefault;
    this._listeners = {};
    this._timers = {};
    this._rooms = {}; // joined rooms, rejoined on every connection
    // Positions of the last push handled per stream (the user's, and each
    // room's), for resuming after a reconnect; see docs/protocol.md.
    this._pos = { user: '', rooms: {} };
    this._history = true; // false once the server said it keeps none
    this._joins = {}; // room -> waiters of join() promises
    this._pending = {}; // ref -> request sent or queued
    this._receipts = []; // receipt keys of pushes handled, waiting to be acknowledged (received)
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
    this._offline = false;
    this._waiting = false; // a retry held back while hidden or offline
    this._resumedAt = -Infinity;
    this._retryNow = false;
    // The token: cached until it expires or the server rejects it.
    this._token = null;
    this._tokenExp = 0; // ms; 0: unknown or never
    this._tokenFresh = false; // fetched for this attempt, not yet welcomed
    this._tokenReason = 'initial';
    this._unhook = [];
    var self = this;
    // A platform whose hooks throw (an H5 runtime without its app shell)
    // still gets a client, without pause/resume or network events.
    try {
      if (o.lifecycle !== false && this.adapter.lifecycle) {
        this._unhook.push(this.adapter.lifecycle(function () { self.resume(); }, function () { self.pause(); }));
      }
      if (o.lifecycle !== false && this.adapter.network) {
        this._unhook.push(this.adapter.network(function (online) { self._network(online); }));
      }
    } catch (e) {
      this._warn('wspush: cannot hook the app lifecycle or network status: ' + (e && e.message));
    }
    var mini = this.adapter.name !== 'browser';
    if (mini && /^ws:\/\//i.test(o.url)) {
      warnOnce('ws:' + o.url, this._warn, 'wspush: ' + o.url + ' is not wss://: mini-programs on phones refuse ws:// (only the developer tools allow it)');
    }
    this._mini = mini;
  }

  // track keeps LIVE: c is live from connect() until it is closed.
  function track(c, live) {
    if (!c._mini) return;
    var url = c.options.url;
    var l = LIVE[url] || (LIVE[url] = []);
    var i = l.indexOf(c);
    if (!live) {
      if (i >= 0) l.splice(i, 1);
      if (!l.length) delete LIVE[url];
      return;
    }
    if (i >= 0) return;
    if (l.length) {
      c._warn('wspush: a second client for ' + url + ': each holds one of the 5 sockets a mini-program may open. Share one with WsPush.shared(options) and release() it on page unload.');
    }
    l.push(c);
  }

  // WsPush.shared returns the one client of this URL, made on the first
  // call (with these options) and counted: each caller calls release()
  // when done (a page's onUnload), and the last release destroys it.
  WsPush.shared = function (options) {
    var url = options && options.url;
    var c = SHARED[url];
    if (c && !c._destroyed) {
      c._refs++;
      return c;
    }
    c = new WsPush(options);
    c._refs = 1;
    c._shared = true;
    SHARED[url] = c;
    return c;
  };

  // WsPush.page wraps a mini-program Page's options: onLoad gets
  // this[key] (default "wspush"), the shared client of options.url,
  // connected, and onUnload releases it, so that a page never leaks a
  // socket.
  WsPush.page = function (pageOptions, clientOptions, key) {
    key = key || 'wspush';
    var p = merge({}, pageOptions);
    var load = pageOptions && pageOptions.onLoad;
    var unload = pageOptions && pageOptions.onUnload;
    p.onLoad = function () {
      this[key] = WsPush.shared(clientOptions).connect();
      if (load) return load.apply(this, arguments);
    };
    p.onUnload = function () {
      var r;
      if (unload) r = unload.apply(this, arguments);
      if (this[key]) this[key].release();
      this[key] = null;
      return r;
    };
    return p;
  };

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
    // _emit calls event's listeners with a and b, and reports whether
    // none threw.
    _emit: function (event, a, b) {
      var l = this._listeners[event];
      if (!l) return true;
      l = l.slice();
      var ok = true;
      for (var i = 0; i < l.length; i++) {
        try {
          l[i].call(this, a, b);
        } catch (e) {
          ok = false;
          if (typeof console !== 'undefined') console.error('wspush: a ' + event + ' listener threw', e);
        }
      }
      return ok;
    },
    // _setState reports a change of state, and each retry scheduled while
    // reconnecting (info.delay, info.attempt).
    _setState: function (state, info) {
      if (state === this.state && state !== 'reconnecting') return;
      var prev = this.state;
      this.state = state;
      track(this, state !== 'closed');
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
      if (this.state !== 'closed' || this._destroyed) return this;
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
      this._waiting = false;
      this._gen++;
      this._clearAll();
      if (this._sock) {
        this._release(this._sock, code || 1000, reason || '');
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
      for (var i = 0; i < this._unhook.length; i++) if (this._unhook[i]) this._unhook[i]();
      this._unhook = [];
      this._listeners = {};
      this._destroyed = true;
      if (SHARED[this.options.url] === this) delete SHARED[this.options.url];
    },

    // release is destroy for a client of WsPush.shared: the last of its
    // holders to release it destroys it.
    release: function () {
      if (this._shared && --this._refs > 0) return;
      this.destroy();
    },

    _clearAll: function () {
      for (var name in this._timers) this._clear(name);
    },

    // _release closes a socket given up, and makes sure it really closed:
    // a SocketTask.close can fail silently, and a socket left open holds
    // one of the mini-program's 5. Without its onClose within closeTimeout,
    // the close is tried again plainly and the error event says so.
    _release: function (sock, code, reason) {
      var self = this;
      var h = sock.h || { closed: true };
      try {
        sock.close(code, reason);
      } catch (e) { /* already closed */ }
      // Only an open socket is checked: one that failed to connect holds
      // nothing, and one still connecting is closed when it opens.
      if (h.closed || !h.opened || !(this.options.closeTimeout > 0)) return;
      this._setTimeout(function () {
        if (h.closed) return;
        self._emit('error', WsPushError('close_unconfirmed', 'a socket did not confirm its close within ' + self.options.closeTimeout + ' ms; closing it again'));
        try {
          sock.close(1000, '');
        } catch (e) { /* gone */ }
      }, this.options.closeTimeout);
    },

    // _getQuery is options.query for one attempt: an object of extra query
    // parameters, or a function (ctx) => object (or a promise of one),
    // called for every attempt, since what it carries (a wx.login code) may
    // be good for one connection only.
    _getQuery: function () {
      var q = this.options.query;
      if (typeof q !== 'function') return Promise.resolve(q || null);
      var attempt = this._attempt;
      return new Promise(function (resolve) { resolve(q({ attempt: attempt })); });
    },

    _url: function (token, query) {
      var o = this.options;
      // auth=inband: a refused token is told in a disconnect message
      // (4003 token_expired, 4503 unauthorized) instead of an HTTP 401
      // that platforms report as a bare socket error.
      var q = ['auth=inband'];
      var useQuery = o.tokenIn === 'query' || (o.tokenIn !== 'header' && !this.adapter.headers);
      if (token && useQuery) q.push('token=' + encodeURIComponent(token));
      if (o.user) q.push('user=' + encodeURIComponent(o.user));
      if (this._resumable()) q.push('resume=1');
      if (query) {
        for (var k in query) {
          if (!Object.prototype.hasOwnProperty.call(query, k) || query[k] === undefined || query[k] === null) continue;
          if (RESERVED_QUERY[k]) {
            this._warn('options.query: "' + k + '" is the SDK\'s own parameter; ignored');
            continue;
          }
          q.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(query[k])));
        }
      }
      return {
        url: o.url + (o.url.indexOf('?') < 0 ? '?' : '&') + q.join('&'),
        headers: token && !useQuery ? { Authorization: 'Bearer ' + token } : {}
      };
    },

    // _fetchToken calls options.token with the reason (initial, expired,
    // refresh), and caches what it returns.
    _fetchToken: function (reason) {
      var self = this;
      var t = this.options.token;
      return new Promise(function (resolve) { resolve(t({ reason: reason })); }).then(function (token) {
        self._token = token;
        self._tokenExp = jwtExp(token);
        return token;
      });
    },

    // _getToken is the token for a connection attempt: the cached one while
    // it is valid, else a new one from options.token.
    _getToken: function () {
      var t = this.options.token;
      if (typeof t !== 'function') return Promise.resolve(t);
      var stale = this._tokenExp && this._now() >= this._tokenExp - 1000;
      if (this._token && !stale) {
        this._tokenFresh = false;
        return Promise.resolve(this._token);
      }
      var self = this;
      var reason = stale ? 'expired' : this._tokenReason;
      this._tokenFresh = true;
      return this._fetchToken(reason).then(function (token) {
        self._tokenReason = 'expired'; // any later fetch replaces a token
        return token;
      });
    },

    // _open starts one connection attempt.
    _open: function () {
      var self = this;
      var gen = ++this._gen;
      this._waiting = false;
      // The token, then the query (a wx.login code for the server's connect
      // hook, say): a failed query is told apart from a failed token.
      var p = this._getToken().then(function (token) {
        return self._getQuery().then(function (query) {
          return { token: token, query: query };
        }, function (err) {
          throw { queryError: err };
        });
      });
      this._timer('connect', this.options.connectTimeout, function () {
        this._lost(gen, 0, 'no welcome within ' + this.options.connectTimeout + ' ms', 'connect_timeout');
      });
      p.then(function (r) {
        if (gen !== self._gen) return;
        var u = self._url(r.token, r.query);
        var o = self.options;
        var socket = { timeout: o.connectTimeout };
        for (var i = 1; i < SOCKET_OPTIONS.length; i++) {
          if (o[SOCKET_OPTIONS[i]] !== undefined) socket[SOCKET_OPTIONS[i]] = o[SOCKET_OPTIONS[i]];
        }
        var h = {
          headers: u.headers,
          socket: socket,
          closed: false,
          opened: false,
          // The welcome message, not the socket's open, makes us open. A
          // socket that opens after it was given up (a connect timeout)
          // is closed, or it would hold a slot.
          onOpen: function () {
            h.opened = true;
            if (gen !== self._gen && h.sock) {
              try { h.sock.close(1000, ''); } catch (e) { /* gone */ }
            }
          },
          onMessage: function (data) { if (gen === self._gen) self._data(data); },
          onClose: function (code, reason) {
            h.closed = true;
            if (gen === self._gen) self._lost(gen, code, reason);
          },
          onError: function (err) {
            if (gen !== self._gen) return;
            self._emit('error', err);
            if (err && err.code === 'max_sockets') {
              self._disconnect = { code: 0, name: 'max_sockets', reason: err.message, reconnect: false };
            }
            self._lost(gen, 1006, err && err.message, 'socket_error');
          }
        };
        try {
          self._sock = self.adapter.connect(u.url, h);
          self._sock.h = h;
          h.sock = self._sock;
        } catch (e) {
          h.onError(e);
        }
      }, function (err) {
        if (gen !== self._gen) return;
        if (err && err.queryError !== undefined) {
          var qe = err.queryError;
          self._emit('error', WsPushError('query', 'options.query failed: ' + (qe && qe.message)));
          self._lost(gen, 0, 'no query', 'query_error');
          return;
        }
        if (err && (err instanceof UnauthorizedError || err.name === 'UnauthorizedError')) {
          self._disconnect = { code: 0, name: 'unauthorized', reason: err.message, reconnect: false, unauthorized: 'token' };
          self._lost(gen, 0, err.message);
          return;
        }
        self._token = null;
        self._emit('error', WsPushError('token', 'options.token failed: ' + (err && err.message)));
        self._lost(gen, 0, 'no token', 'token_error');
      });
    },

    // _tokenVerdict decides what a disconnect about the token means: an
    // expired or rejected cached token is fetched again and tried once at
    // once; a fresh one that is refused, or a fixed token, stops the client
    // with the unauthorized event.
    _tokenVerdict: function (d) {
      var t = this.options.token;
      if ((d.code !== 4003 && d.code !== 4503) || t === undefined || t === null) return;
      if (typeof t !== 'function' || this._tokenFresh) {
        d.reconnect = false;
        d.unauthorized = 'server';
        return;
      }
      this._token = null;
      this._tokenExp = 0;
      this._tokenReason = 'expired';
      d.reconnect = true;
      d.now = true;
    },

    // _lost gives up the socket of generation gen: it closed, failed, or
    // is presumed dead. Then it reconnects with backoff unless told not to.
    _lost: function (gen, code, reason, name) {
      if (gen !== this._gen || this._closing) return;
      this._gen++;
      var wasOpen = this.state === 'open';
      // A socket found dead just after the app came back: retry at once.
      var fast = this._retryNow || (wasOpen && this._now() - this._resumedAt < this.options.resumeTimeout);
      this._retryNow = false;
      var sock = this._sock;
      this._sock = null;
      if (sock) {
        // Frees the slot (5 per mini-program) even if no close event ever
        // comes for this socket.
        this._release(sock, 1000, '');
      }
      this._clearAll();
      this.welcome = null;
      var d = this._disconnect || describe(code, reason);
      this._disconnect = null;
      if (name && d.name === 'closed') d.name = name;
      this._tokenVerdict(d);
      if (d.now) fast = true;
      if (wasOpen && this._now() - this._openedAt >= this.options.stableAfter) {
        this._attempt = 0;
      }
      // Requests already sent cannot be answered on another connection.
      // Rejoins still queued are redone by the next connection's welcome.
      for (var ref in this._pending) {
        var r = this._pending[ref];
        if (r.sent || r.internal) this._settle(ref, WsPushError('disconnected', 'the connection closed before the answer; the request may or may not have been done'));
      }
      var stop = !d.reconnect || (!d.now && this._attempt >= this.options.maxAttempts);
      if (wasOpen) {
        this._emit('disconnect', { code: d.code, name: d.name, reason: d.reason, reconnect: !stop });
      }
      if (this._closing) return; // a disconnect listener called close()
      if (stop) {
        this._failAll('closed', 'disconnected: ' + d.name + (d.reason ? ' (' + d.reason + ')' : ''));
        this._setState('closed', { code: d.code, name: d.name, reason: d.reason });
        if (d.unauthorized) this._emit('unauthorized', { code: d.code, name: d.name, reason: d.reason, source: d.unauthorized });
        return;
      }
      if (this._hidden || this._offline) {
        // No attempt while the app is hidden (its JS is about to freeze)
        // or the network is down: one at once when that ends.
        this._waiting = true;
        this._setState('reconnecting', { delay: null, attempt: this._attempt, waiting: this._hidden ? 'hidden' : 'offline' });
        return;
      }
      var delay = 0;
      if (!fast) {
        delay = backoffDelay(this._attempt, this.options, this._random);
        this._attempt++;
      }
      if (d.retryAfter) delay = Math.max(delay, d.retryAfter);
      // What ended the attempt, also when it never opened (a connect
      // hook's 4006 connect_unavailable comes before any welcome).
      this._setState('reconnecting', { delay: delay, attempt: this._attempt, code: d.code, name: d.name, reason: d.reason });
      this._timer('retry', delay, this._retry);
    },

    // _retry is a retry timer come due; one held by a suspended app fires
    // on its return, still hidden or offline: it waits for show or online.
    _retry: function () {
      if (this._hidden || this._offline) {
        this._waiting = true;
        return;
      }
      this._open();
    },

    // ---- app lifecycle ----

    // pause is for the app going to the background (wx.onAppHide, a hidden
    // page): heartbeats stop, since timers freeze with the suspended JS
    // thread and would misfire all at once on return; a pending retry
    // waits for the app to come back.
    pause: function () {
      this._hidden = true;
      this._clear('receipt');
      this._clear('ping');
      this._clear('pong');
      if (this._timers.retry !== undefined) {
        this._clear('retry');
        this._waiting = true;
      }
    },

    // resume is for the app coming back to the foreground. An open
    // connection is checked with a ping at once and replaced if no answer
    // comes within resumeTimeout; a connection waiting to retry retries
    // once now, and then goes on with its backoff.
    resume: function () {
      this._hidden = false;
      this._wake();
      this._flushReceipts();
    },

    // ---- delivery receipts (docs/protocol.md, "Receipts") ----

    // received acknowledges pushes that asked for a receipt: a push, its
    // receipt key (m.receipt), or an array of either. It is what the SDK
    // does by itself after a push's handlers returned, unless
    // options.receipts is false. Acknowledgements wait receiptDelay ms to
    // go in one message, and while disconnected or in the background
    // until the next connection (at most 1024). A push without a receipt
    // is skipped.
    received: function (pushes) {
      var list = Array.isArray(pushes) ? pushes : [pushes];
      for (var i = 0; i < list.length; i++) {
        var k = list[i] && typeof list[i] === 'object' ? list[i].receipt : list[i];
        if (typeof k === 'string' && k) this._receipt(k);
      }
    },

    _receipt: function (key) {
      this._receipts.push(key);
      if (this._receipts.length > MAX_HELD_RECEIPTS) this._receipts.shift();
      if (this._receipts.length >= MAX_RECEIPT_IDS) {
        this._flushReceipts();
        return;
      }
      var self = this;
      if (this._timers.receipt === undefined) this._timer('receipt', this.options.receiptDelay, function () { self._flushReceipts(); });
    },

    // _flushReceipts sends the acknowledgements waiting, MAX_RECEIPT_IDS
    // ids a message, on the open connection; they stay for the next one
    // while there is none or the app is in the background.
    _flushReceipts: function () {
      this._clear('receipt');
      while (this._receipts.length && !this._hidden && this.state === 'open') {
        var ids = this._receipts.slice(0, MAX_RECEIPT_IDS);
        if (!this._write({ type: 'received', ids: ids }, true)) break;
        this._receipts.splice(0, ids.length);
      }
    },

    // _network is for a change of network status (wx.onNetworkStatusChange,
    // the browser's online and offline events).
    _network: function (online) {
      this._offline = !online;
      if (online) this._wake();
    },

    _wake: function () {
      if (this._closing || this.state === 'closed' || this._hidden || this._offline) return;
      if (this.state === 'open') {
        this._resumedAt = this._now();
        var gen = this._gen;
        this._write({ type: 'ping' }, true);
        this._timer('pong', this.options.resumeTimeout, function () {
          this._retryNow = true; // a socket that died in the background: retry at once
          this._lost(gen, 0, 'no answer to a ping after returning to the foreground', 'heartbeat_timeout');
        });
        this._schedulePing();
      } else if (this._waiting || (this._timers.retry !== undefined && this._now() - this._resumedAt >= this.options.minDelay)) {
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
          var handled = this._emit(m.room !== undefined ? 'message' : 'push', m);
          // Acknowledged once every handler returned without throwing.
          if (typeof m.receipt === 'string' && m.receipt && this.options.receipts !== false && handled) this._receipt(m.receipt);
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
      this._tokenFresh = false;
      this._lateRefresh = false;
      if (m.exp) this._tokenExp = m.exp;
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
      this._scheduleRefresh(m.exp);
      this._drain();
      this._emit('open', m);
      this._flushReceipts();
    },

    // ---- in-band token refresh ----

    // _scheduleRefresh plans the refresh of a token that expires at exp
    // (ms): refreshBefore ms ahead of it, or half-way for a short-lived
    // one. The clock is the device's: one far off the server's makes the
    // refresh late, and the connection then ends with token_expired and
    // is made again with a new token.
    _scheduleRefresh: function (exp) {
      this._clear('refresh');
      if (!exp || typeof this.options.token !== 'function' || !(this.options.refreshBefore > 0)) return;
      var left = exp - this._now();
      var wait = Math.max(0, left - Math.min(this.options.refreshBefore, left / 2));
      // A device clock ahead of the server's makes every token look
      // (nearly) expired: refresh once at once, then leave it to the
      // server's token_expired rather than refresh in a loop.
      if (wait < 1000) {
        if (this._lateRefresh) return;
        this._lateRefresh = true;
      } else {
        this._lateRefresh = false;
      }
      this._timer('refresh', wait, this._refresh);
    },

    // _refresh gets a token (reason "refresh") and sends it on the open
    // connection; the ack moves the connection's expiry. A refresh that
    // fails leaves the connection as it is: at exp the server ends it with
    // token_expired, and the client comes back once with a new token.
    _refresh: function () {
      var self = this;
      var gen = this._gen;
      this._fetchToken('refresh').then(function (token) {
        if (gen !== self._gen || self.state !== 'open') return;
        return self._request({ type: 'refresh', token: token }).then(function (ack) {
          if (gen !== self._gen) return;
          self._tokenExp = (ack && ack.exp) || 0;
          if (self.welcome) self.welcome.exp = self._tokenExp || undefined;
          self._emit('refreshed', { exp: self._tokenExp });
          self._scheduleRefresh(self._tokenExp);
        });
      }).then(null, function (err) {
        if (err && (err instanceof UnauthorizedError || err.name === 'UnauthorizedError')) {
          if (gen !== self._gen) return;
          self._disconnect = { code: 0, name: 'unauthorized', reason: err.message, reconnect: false, unauthorized: 'token' };
          self._lost(gen, 0, err.message);
          return;
        }
        self._token = null; // the next connection fetches a new one
        self._emit('error', WsPushError((err && err.code) || 'token', 'token refresh failed: ' + (err && err.message)));
      });
    },

    // ---- outbound ----

    // _write sends msg now on the open socket. Heartbeats (force) go out
    // whatever the rate allowance; they still use it up. A send that fails
    // fails that message only (its request rejects with send_failed): the
    // connection stays, and the heartbeat tells whether it is alive.
    _write: function (msg, force) {
      if (!this._sock || this.state !== 'open') return false;
      this._refill();
      if (!force && this.options.maxRate > 0 && this._tokens < 1) return false;
      this._tokens--;
      var self = this;
      var ref = msg.ref;
      function failed(err) {
        if (ref !== undefined && self._pending[ref]) self._settle(ref, err);
        else self._emit('error', err);
      }
      try {
        this._sock.send(JSON.stringify(msg), failed);
      } catch (e) {
        failed(WsPushError('send_failed', 'send failed: ' + e.message));
      }
      return true;
    },

    // _tooLarge rejects a request bigger than the server takes (the
    // welcome's max_message): sent, it would close the connection (1009).
    _tooLarge: function (r) {
      var max = this.welcome && this.welcome.max_message;
      if (!max) return false;
      var n = utf8Length(JSON.stringify(r.msg));
      if (n <= max) return false;
      this._settle(r.ref, WsPushError('too_large', 'the message is ' + n + ' bytes; the server takes at most ' + max));
      var i = this._queue.indexOf(r);
      if (i >= 0) this._queue.splice(i, 1);
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
        if (this._tooLarge(r)) continue;
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
      if (this._tooLarge(r)) return p;
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
      var b = toArrayBuffer(data);
      var max = this.welcome && this.welcome.max_message;
      if (max && b && b.byteLength > max) {
        this._emit('error', WsPushError('too_large', 'the binary message is ' + b.byteLength + ' bytes; the server takes at most ' + max));
        return false;
      }
      var self = this;
      this._sock.send(b, function (err) { self._emit('error', err); });
      return true;
    }
  };

  WsPush.WsPush = WsPush;
  WsPush.default = WsPush;
  WsPush.WsPushError = WsPushError;
  WsPush.UnauthorizedError = UnauthorizedError;
  WsPush.Disconnects = DISCONNECTS.map(function (d) { return merge({}, d); });
  WsPush.describeDisconnect = function (code, reason) { return describe(code, reason); };
  WsPush.backoffDelay = backoffDelay;
  WsPush.defaults = merge({}, DEFAULTS);
  WsPush.adapters = {
    miniProgram: miniProgram,
    wx: function (api) { return miniProgram(api || globalApi('wx'), 'wx'); },
    uni: function (api) { return miniProgram(api || globalApi('uni'), 'uni'); },
    taro: function (Taro) { return miniProgram(Taro, 'taro'); },
    my: function (api) { return miniProgram(api || globalApi('my'), 'my'); },
    tt: function (api) { return miniProgram(api || globalApi('tt'), 'tt'); },
    qq: function (api) { return miniProgram(api || globalApi('qq'), 'qq'); },
    swan: function (api) { return miniProgram(api || globalApi('swan'), 'swan'); },
    browser: browser
  };
  return WsPush;
});
