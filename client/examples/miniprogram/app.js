// The app holds the one wspush connection that every page shares: a
// mini-program may open at most 5 sockets, and one carries everything.
const WsPush = require('./utils/wspush.js');

App({
  globalData: {
    // Production: wss:// on a domain listed in the MP console under
    // 开发管理 → 开发设置 → 服务器域名 → socket合法域名, with nginx (or a
    // cloud load balancer) ending TLS in front of wspush.
    url: 'wss://push.example.com/ws',
    // Development only (wspush serve without --jwt-secret, and "不校验合法域名"
    // ticked in the devtools): connect as this user, no token.
    devUser: '',
    room: 'lobby'
  },

  onLaunch() {
    const g = this.globalData;
    this.push = new WsPush({
      url: g.url,
      user: g.devUser || undefined,
      // Called before every connection attempt, so that a reconnect after
      // token_expired (4003) gets a fresh token. Sent as the
      // Authorization header of the upgrade.
      token: g.devUser ? undefined : () => this.fetchToken()
      // The SDK finds wx.connectSocket, and hooks wx.onAppShow/onAppHide:
      // back in the foreground it checks the socket at once.
    });
    this.push.on('error', (err) => console.warn('wspush:', err.code, err.message));
    this.push.on('disconnect', (d) => {
      if (!d.reconnect && d.name !== 'client_closed') console.warn('wspush: disconnected for good:', d.name, d.reason);
    });
    this.push.connect();
  },

  // fetchToken trades wx.login's code for a wspush token (a JWT whose sub is
  // the user id) at your backend, which shares --jwt-secret with wspush.
  fetchToken() {
    return new Promise((resolve, reject) => {
      wx.login({
        success: ({ code }) => wx.request({
          url: 'https://api.example.com/wspush/token',
          method: 'POST',
          data: { code },
          success: (res) => (res.statusCode === 200 ? resolve(res.data.token) : reject(new Error('token: HTTP ' + res.statusCode))),
          fail: (e) => reject(new Error(e.errMsg))
        }),
        fail: (e) => reject(new Error(e.errMsg))
      });
    });
  }
});
