// The app holds the one wspush connection that every page shares: a
// mini-program may open at most 5 sockets, and one carries everything.
// require('wspush') finds miniprogram_npm/wspush/index.js, which DevTools'
// 构建 npm lays out from node_modules/wspush after npm install in this folder
// (https://developers.weixin.qq.com/miniprogram/dev/devtools/npm.html).
const WsPush = require('wspush');

App({
  globalData: {
    // Production: wss:// on a domain listed in the MP console under
    // 开发管理 → 开发设置 → 服务器域名 → socket合法域名, with nginx (or a
    // cloud load balancer) ending TLS in front of wspush.
    url: 'wss://push.example.com/ws',
    // Development only (wspush serve without --jwt-secret, and "不校验合法域名"
    // ticked in the devtools): connect as this user, no token.
    devUser: '',
    // With a server started with --connect-hook (docs/webhook.md#connect-hook):
    // no token at all. Every connection attempt sends a fresh wx.login code
    // in its URL, and the backend's hook turns it into the openid.
    connectHook: false,
    room: 'lobby'
  },

  onLaunch() {
    const g = this.globalData;
    this.push = new WsPush({
      url: g.url,
      user: g.devUser || undefined,
      // The token function gets a reason: initial (first connection),
      // expired (the cached token expired or the server refused it: the
      // SDK asks once, then reconnects once) or refresh (shortly before
      // exp: the new token goes to the server on the open connection, no
      // reconnect). The SDK caches what it returns and reuses it for
      // reconnects until it expires, so wx.login runs only when needed.
      // Sent as the Authorization header of the upgrade.
      token: g.devUser || g.connectHook ? undefined : (ctx) => this.fetchToken(ctx.reason),
      // A code is good for one use: query is called before every attempt.
      query: g.connectHook ? () => this.loginCode() : undefined
      // The SDK finds wx.connectSocket, and hooks wx.onAppShow/onAppHide
      // and wx.onNetworkStatusChange: no retries while hidden or offline,
      // one attempt at once when the app or the network comes back.
    });
    this.push.on('error', (err) => console.warn('wspush:', err.code, err.message));
    this.push.on('disconnect', (d) => {
      if (!d.reconnect && d.name !== 'client_closed') console.warn('wspush: disconnected for good:', d.name, d.reason);
    });
    // The server refused a fresh token, or fetchToken threw
    // UnauthorizedError: the client has stopped. Log in again, then
    // connect() again.
    this.push.on('unauthorized', (info) => {
      console.warn('wspush: unauthorized:', info.name, info.reason);
      this.globalData.needLogin = true;
    });
    this.push.connect();
  },

  // logout stops the connection for good: the next token request throws
  // UnauthorizedError, which the SDK takes as "do not retry".
  logout() {
    this.globalData.loggedOut = true;
    this.push.close();
  },

  // loginCode is the query of one connection attempt for the connect
  // hook: a fresh wx.login code
  // (https://developers.weixin.qq.com/miniprogram/dev/api/open-api/login/wx.login.html).
  loginCode() {
    return new Promise((resolve, reject) => {
      wx.login({
        success: ({ code }) => resolve({ code }),
        fail: (e) => reject(new Error(e.errMsg))
      });
    });
  },

  // fetchToken trades wx.login's code for a wspush token (a JWT whose sub is
  // the user id) at your backend, which shares --jwt-secret with wspush.
  // A 401 from the backend means the user has no session any more: the SDK
  // stops instead of asking again and again.
  fetchToken(reason) {
    if (this.globalData.loggedOut) return Promise.reject(new WsPush.UnauthorizedError('logged out'));
    return new Promise((resolve, reject) => {
      wx.login({
        success: ({ code }) => wx.request({
          url: 'https://api.example.com/wspush/token',
          method: 'POST',
          data: { code, reason },
          success: (res) => {
            if (res.statusCode === 200) resolve(res.data.token);
            else if (res.statusCode === 401) reject(new WsPush.UnauthorizedError('the backend refused the login'));
            else reject(new Error('token: HTTP ' + res.statusCode));
          },
          fail: (e) => reject(new Error(e.errMsg))
        }),
        fail: (e) => reject(new Error(e.errMsg))
      });
    });
  }
});
