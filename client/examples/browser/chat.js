// The browser chat demo: every tab joins one room and publishes to it;
// pushes from the HTTP API show up too. Query parameters:
//   user  the user id (development mode: wspush serve without --jwt-secret)
//   room  the room, "lobby" by default
//   ws    the WebSocket URL, ws://<this host>:8080/ws by default
//   token a JWT, for a server started with --jwt-secret
(function () {
  'use strict';
  var q = new URLSearchParams(location.search);
  var user = q.get('user') || 'guest-' + Math.random().toString(36).slice(2, 6);
  var room = q.get('room') || 'lobby';
  var scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  var url = q.get('ws') || scheme + '//' + (location.hostname || '127.0.0.1') + ':8080/ws';

  var list = document.getElementById('messages');
  var stateEl = document.getElementById('state');
  var who = document.getElementById('who');
  var form = document.getElementById('send');
  var text = document.getElementById('text');

  function time(ts) {
    return new Date(ts || Date.now()).toLocaleTimeString();
  }

  function show(kind, meta, body) {
    var li = document.createElement('li');
    li.className = kind;
    var m = document.createElement('span');
    m.className = 'meta';
    m.textContent = meta;
    li.appendChild(m);
    li.appendChild(document.createTextNode(body));
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
  }

  function body(data) {
    if (data && typeof data === 'object' && typeof data.text === 'string') return data.text;
    return typeof data === 'string' ? data : JSON.stringify(data);
  }

  var client = new WsPush({
    url: url,
    user: q.get('token') ? undefined : user,
    token: q.get('token') || undefined,
    adapter: 'browser'
  });

  client.on('state', function (state, info) {
    stateEl.textContent = state + (state === 'reconnecting' ? ' in ' + Math.round(info.delay / 100) / 10 + ' s' : '');
    stateEl.dataset.state = state;
  });
  client.on('open', function (w) {
    who.textContent = w.user + ' · ' + room;
    show('system', time(), 'connected as ' + w.user + ' (' + w.conn + ')');
  });
  client.on('message', function (m) {
    var mine = client.welcome && m.from === client.welcome.user;
    show(mine ? 'room mine' : 'room', time(m.ts) + ' ' + (m.from || 'server') + ':', body(m.data));
  });
  client.on('push', function (m) {
    show('push', time(m.ts) + ' push' + (m.from ? ' from ' + m.from : '') + ':', body(m.data));
  });
  client.on('disconnect', function (d) {
    show('system', time(), 'disconnected: ' + d.name + (d.reason ? ' (' + d.reason + ')' : '') +
      (d.reconnect ? ', reconnecting' : ''));
  });
  client.on('error', function (e) {
    if (e.code !== 'socket') show('system', time(), 'error: ' + e.code + ' ' + e.message);
  });

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var t = text.value.trim();
    if (!t) return;
    text.value = '';
    client.publish(room, { text: t }).catch(function (err) {
      show('system', time(), 'not sent (' + err.code + '): ' + t);
    });
  });

  client.join(room).catch(function (err) {
    show('system', time(), 'cannot join ' + room + ': ' + err.code);
  });
  client.connect();
  window.chat = client; // for the console
})();
