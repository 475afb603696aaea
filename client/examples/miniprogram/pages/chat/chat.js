// The chat page: the seeds' WePY chat, on the app's one wspush connection.
// It listens while loaded and stops listening on unload; the connection
// itself stays with the app.
const app = getApp();

const stateText = {
  connecting: '连接中…',
  open: '已连接',
  reconnecting: '重新连接中…',
  closed: '已断开'
};

let seq = 0;

Page({
  data: {
    say: '',
    state: 'connecting',
    stateText: stateText.connecting,
    chats: [{ id: 'm0', kind: 'system', time: '', who: '', text: '聊天开始' }],
    lastId: 'm0'
  },

  onLoad() {
    const push = app.push;
    const room = app.globalData.room;
    this.room = room;
    this.listeners = {
      state: (state) => this.setData({ state, stateText: stateText[state] }),
      open: (w) => this.add('system', '', '已连接: ' + w.user),
      // Room messages: what members publish, and the API's room publishes.
      message: (m) => {
        if (m.room !== room) return;
        const mine = push.welcome && m.from === push.welcome.user;
        this.add(mine ? 'mine' : 'room', mine ? '我说' : (m.from || '服务器') + '说', text(m.data), m.ts);
      },
      // Pushes to this user from the backend (POST /v1/push) or another user.
      push: (m) => this.add('push', m.from ? m.from + '私信' : '服务器推送', text(m.data), m.ts),
      disconnect: (d) => this.add('system', '', '连接断开: ' + d.name + (d.reconnect ? ', 正在重连' : ''))
    };
    for (const ev in this.listeners) push.on(ev, this.listeners[ev]);
    this.listeners.state(push.state);
    push.join(room).catch((err) => this.add('system', '', '无法加入 ' + room + ': ' + err.code));
  },

  onUnload() {
    const push = app.push;
    for (const ev in this.listeners) push.off(ev, this.listeners[ev]);
    push.leave(this.room).catch(() => {});
  },

  userSay(e) {
    this.setData({ say: e.detail.value });
  },

  sendMessage() {
    const say = this.data.say.trim();
    if (!say) return;
    this.setData({ say: '' });
    // Queued while reconnecting; rejects if the queue overflows, the
    // server refuses, or no ack comes in time.
    app.push.publish(this.room, { text: say }).catch((err) => {
      this.add('system', '', '发送失败 (' + err.code + '): ' + say);
    });
  },

  add(kind, who, body, ts) {
    const id = 'm' + ++seq;
    const time = new Date(ts || Date.now()).toLocaleTimeString();
    this.setData({ chats: this.data.chats.concat([{ id, kind, time, who, text: body }]), lastId: id });
  }
});

function text(data) {
  if (data && typeof data === 'object' && typeof data.text === 'string') return data.text;
  return typeof data === 'string' ? data : JSON.stringify(data);
}
