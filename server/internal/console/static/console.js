// The wspush operator console: plain JavaScript, no framework, no build
// step. Every figure comes from the JSON API under /console/api/
// (docs/console.md); the charts are uPlot, embedded in the binary.
(function () {
  'use strict';

  var T = {
    en: {
      console: 'console', login: 'Log in', logout: 'Log out', key: 'API key or console key', password: 'Password',
      operator: 'Operator', loginHint: 'The key is sent once, in the request body, for a session cookie; it is never kept in this page.',
      devBanner: 'Development mode: no key is configured, so this console opens without a login on a loopback address. Set --api-key or --console-key before exposing it.',
      readOnly: 'read-only', overview: 'Overview', connections: 'Connections', user: 'User', rooms: 'Rooms', push: 'Push',
      webhook: 'Webhook', audit: 'Audit log', tail: 'Live tail', config: 'Configuration',
      node: 'Node', version: 'Version', uptime: 'Uptime', conns: 'Connections', users: 'Users', roomsN: 'Rooms',
      inps: 'Messages in/s', outps: 'Messages out/s', rss: 'Memory (RSS)', goroutines: 'Goroutines', redis: 'Redis',
      nodes: 'Nodes', clusterConns: 'Cluster connections', clusterUsers: 'Cluster users', redisLat: 'Redis latency', heartbeat: 'Last heartbeat', chartConns: 'Connections', chartMsgs: 'Messages per second',
      chartLat: 'Push latency (ms)', chartCloses: 'Disconnects per second', in: 'in', out: 'out',
      prefix: 'User id prefix', search: 'Search', next: 'Next page', first: 'First page', order: 'Order',
      byUser: 'by user', oldest: 'oldest first', ip: 'Remote IP', platform: 'Platform', sdk: 'SDK', compression: 'Compression',
      any: 'any', on: 'on', off: 'off', snapshot: 'Snapshot', total: 'total', missing: 'did not answer:', scanned: 'scanned', partial: 'stopped at the scan limit: go on with Next page',
      topQueued: 'Most queued bytes', topOldest: 'Oldest', id: 'Id', since: 'Since', remote: 'Remote', loop: 'Loop',
      details: 'Connection', roomsOf: 'Rooms', queued: 'Queued bytes', lag: 'Lag bytes', lastActivity: 'Last activity',
      rate: 'Rate tokens', reason: 'Reason (the client reads it)', disconnect: 'Disconnect', lookup: 'Look up',
      presence: 'Presence', online: 'online', offline: 'offline', recent: 'Recent disconnects', closed: 'Closed', code: 'Code',
      pushTest: 'Push a test message', send: 'Send', dryRun: 'Dry run', kick: 'Kick', room: 'Room', members: 'Members here',
      publish: 'Publish', mode: 'Send to', toUsers: 'users', toRoom: 'a room', toAll: 'everyone (broadcast)', usersList: 'User ids, comma separated',
      data: 'Message (JSON)', valid: 'valid JSON', invalid: 'not JSON: ', answer: 'Answer', who: 'Who', when: 'When', action: 'Action',
      target: 'Target', result: 'Result', start: 'Start', pause: 'Pause', resume: 'Resume', types: 'Types', clear: 'Clear',
      sampled: 'high rate: dropped %n events in the last second (at most %r a second are shown)', none: 'nothing yet',
      viewerNote: 'This session is read-only: actions are disabled and payloads hidden.', metric: 'Metric', value: 'Value',
      noWebhook: 'No webhook is configured (--webhook).', history: 'Recent history', failures: 'Recent failures', status: 'Status', error: 'Error', events: 'Events', attempt: 'Attempt', lost: 'lost', retried: 'retried', loopLag: 'Event-loop lag', connsHere: 'Connections on this node:', closeReason: 'Why', given: 'Reason given', noHistory: 'The server keeps no history (--history-size, --history-ttl).', disconnected: 'disconnected', pushed: 'sent', confirmKick: 'Kick every connection of this user?'
    },
    zh: {
      console: '控制台', login: '登录', logout: '退出', key: 'API 密钥或控制台密钥', password: '密码',
      operator: '操作员', loginHint: '密钥只在请求体中发送一次，用来换取会话 Cookie，本页面不会保存它。',
      devBanner: '开发模式：未配置任何密钥，因此此控制台在回环地址上无需登录即可打开。对外开放前请设置 --api-key 或 --console-key。',
      readOnly: '只读', overview: '总览', connections: '连接', user: '用户', rooms: '房间', push: '推送',
      webhook: 'Webhook', audit: '审计日志', tail: '实时事件', config: '配置',
      node: '节点', version: '版本', uptime: '运行时间', conns: '连接数', users: '用户数', roomsN: '房间数',
      inps: '每秒收到消息', outps: '每秒发出消息', rss: '内存 (RSS)', goroutines: 'Goroutine', redis: 'Redis',
      nodes: '节点', clusterConns: '集群连接数', clusterUsers: '集群用户数', redisLat: 'Redis 延迟', heartbeat: '最近心跳', chartConns: '连接数', chartMsgs: '每秒消息数',
      chartLat: '推送延迟 (毫秒)', chartCloses: '每秒断开数', in: '收', out: '发',
      prefix: '用户 ID 前缀', search: '搜索', next: '下一页', first: '第一页', order: '排序',
      byUser: '按用户', oldest: '最早的在前', ip: '远端 IP', platform: '平台', sdk: 'SDK', compression: '压缩',
      any: '全部', on: '开', off: '关', snapshot: '快照时间', total: '总数', missing: '未应答节点：', scanned: '已扫描', partial: '已到扫描上限：请点下一页继续',
      topQueued: '排队字节最多', topOldest: '最早的连接', id: 'ID', since: '连接时间', remote: '远端地址', loop: '事件循环',
      details: '连接详情', roomsOf: '所在房间', queued: '排队字节', lag: '积压字节', lastActivity: '最后活动',
      rate: '限速令牌', reason: '原因（客户端可见）', disconnect: '断开', lookup: '查询',
      presence: '在线状态', online: '在线', offline: '离线', recent: '最近断开', closed: '断开时间', code: '代码',
      pushTest: '推送测试消息', send: '发送', dryRun: '试运行', kick: '踢下线', room: '房间', members: '本节点成员',
      publish: '发布', mode: '发送给', toUsers: '用户', toRoom: '房间', toAll: '所有人（广播）', usersList: '用户 ID，逗号分隔',
      data: '消息 (JSON)', valid: 'JSON 有效', invalid: '不是 JSON：', answer: '返回结果', who: '操作人', when: '时间', action: '操作',
      target: '对象', result: '结果', start: '开始', pause: '暂停', resume: '继续', types: '类型', clear: '清空',
      sampled: '事件过多：上一秒丢弃了 %n 条（每秒最多显示 %r 条）', none: '暂无',
      viewerNote: '当前会话为只读：操作已禁用，消息内容已隐藏。', metric: '指标', value: '值',
      noWebhook: '未配置 Webhook（--webhook）。', history: '最近消息', failures: '最近失败', status: '状态码', error: '错误', events: '事件数', attempt: '第几次', lost: '已丢弃', retried: '将重试', loopLag: '事件循环延迟', connsHere: '本节点上的连接：', closeReason: '断开原因', given: '操作员给出的原因', noHistory: '服务器未保存历史消息（--history-size、--history-ttl）。', disconnected: '已断开', pushed: '已发送', confirmKick: '确定踢掉该用户的所有连接？'
    }
  };

  var lang = localStorage.getItem('wspush.lang') ||
    (((navigator.languages && navigator.languages[0]) || navigator.language || 'en').toLowerCase().indexOf('zh') === 0 ? 'zh' : 'en');
  function t(k) { return (T[lang] && T[lang][k]) || T.en[k] || k; }

  var $ = function (s, root) { return (root || document).querySelector(s); };
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'on') for (var ev in attrs.on) e.addEventListener(ev, attrs.on[ev]);
      else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function translate() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.querySelectorAll('[data-i18n]').forEach(function (n) { n.textContent = t(n.getAttribute('data-i18n')); });
  }

  var sess = null;
  var streams = [];
  function closeStreams() { streams.forEach(function (s) { s.close(); }); streams = []; }

  function api(method, path, body) {
    var h = { 'Accept': 'application/json' };
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (method !== 'GET' && sess) h['X-CSRF-Token'] = sess.csrf;
    return fetch('/console/api/' + path, { method: method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (r.status === 401 && path !== 'login' && path !== 'session') { sess = null; showLogin(); }
          if (!r.ok) { var e = new Error(j.message || ('HTTP ' + r.status)); e.status = r.status; e.body = j; throw e; }
          return j;
        });
      });
  }

  function fmtBytes(n) { if (n == null) return ''; var u = ['B', 'KiB', 'MiB', 'GiB']; var i = 0; while (n >= 1024 && i < 3) { n /= 1024; i++; } return n.toFixed(i ? 1 : 0) + ' ' + u[i]; }
  function fmtTime(s) { if (!s) return ''; var d = new Date(s); return isNaN(d) ? s : d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB'); }
  function fmtDur(sec) { sec = Math.floor(sec); var h = Math.floor(sec / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60; return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + s + 's'; }
  function isAdmin() { return sess && sess.role === 'admin'; }

  // ---- login ----
  function showLogin() {
    closeStreams();
    $('#app').hidden = true; $('#logout').hidden = true; $('#login').hidden = false;
    api('GET', 'session').catch(function (e) {
      var named = e.body && e.body.named_operators;
      $('#userRow').hidden = !named;
      $('#secretLabel').textContent = named ? t('password') + ' / ' + t('key') : t('key');
    });
  }
  $('#loginForm').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var u = $('#loginUser').value.trim(), k = $('#loginKey').value;
    var body = u ? { user: u, password: k } : { key: k };
    $('#loginKey').value = '';
    api('POST', 'login', body).then(function (s) { $('#loginErr').textContent = ''; start(s); })
      .catch(function (e) { $('#loginErr').textContent = e.message; });
  });
  $('#logout').addEventListener('click', function () { api('POST', 'logout', {}).then(function () { sess = null; showLogin(); }); });
  $('#lang').value = lang;
  $('#lang').addEventListener('change', function () { lang = this.value; localStorage.setItem('wspush.lang', lang); translate(); render(); });

  var pages = ['overview', 'connections', 'user', 'rooms', 'push', 'webhook', 'audit', 'tail', 'config'];
  function start(s) {
    sess = s;
    $('#login').hidden = true; $('#app').hidden = false;
    $('#banner').hidden = !s.development;
    $('#logout').hidden = s.development;
    $('#node').textContent = (s.node || '') + (s.version ? ' · ' + s.version : '');
    $('#who').textContent = s.name + (s.role === 'viewer' ? ' (' + t('readOnly') + ')' : '');
    render();
  }
  window.addEventListener('hashchange', render);

  function render() {
    translate();
    if (!sess) return;
    closeStreams();
    var h = (location.hash || '#/overview').slice(2).split('/');
    var page = pages.indexOf(h[0]) >= 0 ? h[0] : 'overview';
    var nav = $('#nav'); nav.innerHTML = '';
    pages.forEach(function (p) { nav.appendChild(el('a', { href: '#/' + p, 'class': p === page ? 'on' : null, id: 'nav-' + p, text: t(p) })); });
    var main = $('#main'); main.innerHTML = '';
    if (!isAdmin()) main.appendChild(el('p', { 'class': 'muted', text: t('viewerNote') }));
    ({ overview: overview, connections: connections, user: userPage, rooms: roomsPage, push: pushPage, webhook: webhookPage, audit: auditPage, tail: tailPage, config: configPage })[page](main, decodeURIComponent(h.slice(1).join('/')));
  }

  // ---- overview ----
  function chart(parent, title, series, height) {
    var box = el('div', { 'class': 'card' }, [el('h3', { text: title })]);
    parent.appendChild(box);
    var opts = { width: Math.max(480, (parent.clientWidth || 1000) / 2 - 40), height: height || 180, series: [{}].concat(series), scales: { x: { time: true } }, axes: [{}, { size: 60 }] };
    var data = [[]].concat(series.map(function () { return []; }));
    var u = new uPlot(opts, data, box);
    return { u: u, data: data };
  }
  function overview(main) {
    var cards = el('div', { 'class': 'grid', id: 'stats' });
    main.appendChild(cards);
    var nodes = el('div', { id: 'nodes' });
    main.appendChild(nodes);
    var charts = el('div', { 'class': 'charts' });
    main.appendChild(charts);
    var cC = chart(charts, t('chartConns'), [{ label: t('conns'), stroke: '#2563eb', width: 2 }]);
    var cM = chart(charts, t('chartMsgs'), [{ label: t('in'), stroke: '#16a34a' }, { label: t('out'), stroke: '#f59e0b' }]);
    var cL = chart(charts, t('chartLat'), [{ label: 'p50', stroke: '#7c3aed' }, { label: 'p99', stroke: '#dc2626' }]);
    var reasons = ['peer_close', 'peer_gone', 'idle_timeout', 'slow_consumer', 'kicked', 'shutdown'];
    var colors = ['#2563eb', '#64748b', '#f59e0b', '#dc2626', '#7c3aed', '#0d9488', '#a3a3a3'];
    var cD = chart(charts, t('chartCloses'), reasons.concat(['other']).map(function (r, i) { return { label: r, stroke: colors[i] }; }));
    function push(p) {
      var x = p.t / 1000;
      function add(c, ys) { c.data[0].push(x); ys.forEach(function (y, i) { c.data[i + 1].push(y); }); if (c.data[0].length > 900) c.data.forEach(function (a) { a.shift(); }); }
      var by = reasons.map(function () { return 0; }), other = 0;
      for (var r in (p.closes || {})) { var i = reasons.indexOf(r); if (i >= 0) by[i] += p.closes[r]; else other += p.closes[r]; }
      add(cC, [p.connections]); add(cM, [p.in_per_s, p.out_per_s]); add(cL, [p.p50_ms, p.p99_ms]); add(cD, by.concat([other]));
    }
    function draw() { [cC, cM, cL, cD].forEach(function (c) { c.u.setData(c.data); }); }
    var prevNodes = {};
    function nodeTable(list) {
      nodes.innerHTML = '';
      if (!list || !list.length) return;
      var now = Date.now(), tb = el('tbody');
      list.forEach(function (n) {
        var p = prevNodes[n.node], seen = new Date(n.seen).getTime(), inS = '-', outS = '-';
        var mi = n.messages_in || 0, mo = n.messages_out || 0;
        if (p && seen > p.seen) { inS = ((mi - p.in) * 1000 / (seen - p.seen)).toFixed(0); outS = ((mo - p.out) * 1000 / (seen - p.seen)).toFixed(0); }
        if (!p || seen > p.seen) prevNodes[n.node] = { seen: seen, in: mi, out: mo, inS: inS, outS: outS };
        else { inS = p.inS; outS = p.outS; }
        tb.appendChild(el('tr', null, [el('td', { text: n.node + (n.node === sess.node ? ' ★' : '') }), el('td', { text: n.version || '' }), el('td', { text: n.uptime_seconds ? fmtDur(n.uptime_seconds) : '' }),
          el('td', { text: String(n.connections) }), el('td', { text: String(n.users) }), el('td', { text: String(n.rooms || 0) }), el('td', { text: inS }), el('td', { text: outS }),
          el('td', { text: fmtBytes(n.rss_bytes) }), el('td', { text: n.redis_ms ? n.redis_ms.toFixed(2) + ' ms' : '' }), el('td', { text: ((now - seen) / 1000).toFixed(1) + ' s' })]));
      });
      nodes.appendChild(el('div', { 'class': 'card' }, [el('h2', { text: t('nodes') + ' (' + list.length + ')' }), el('table', { id: 'nodeTable' }, [el('thead', null, [el('tr', null,
        [t('node'), t('version'), t('uptime'), t('conns'), t('users'), t('roomsN'), t('inps'), t('outps'), t('rss'), t('redisLat'), t('heartbeat')].map(function (h) { return el('th', { text: h }); }))]), tb])]));
    }
    function stats(st, p) {
      cards.innerHTML = '';
      var items = [[t('node'), sess.node], [t('version'), sess.version], [t('uptime'), fmtDur(st.uptime_seconds)], [t('conns'), st.connections], [t('users'), st.users],
        [t('roomsN'), st.rooms], [t('inps'), p ? p.in_per_s.toFixed(0) : '-'], [t('outps'), p ? p.out_per_s.toFixed(0) : '-'], [t('rss'), fmtBytes(st.rss_bytes)], [t('goroutines'), st.goroutines], [t('loopLag'), p && p.loop_lag_ms != null ? p.loop_lag_ms.toFixed(2) + ' ms' : '-']];
      if (st.cluster) items.push([t('redis'), st.cluster.redis], [t('nodes'), st.cluster.nodes], [t('clusterConns'), st.cluster.connections], [t('clusterUsers'), st.cluster.users]);
      items.forEach(function (it) { cards.appendChild(el('div', { 'class': 'stat' }, [el('span', { text: it[0] }), el('b', { text: String(it[1]) })])); });
      nodeTable(st.cluster && st.cluster.node_list);
    }
    api('GET', 'overview').then(function (o) {
      o.points.forEach(push); draw();
      stats(o.stats, o.points[o.points.length - 1]);
      var es = new EventSource('/console/api/overview/stream');
      streams.push(es);
      es.addEventListener('point', function (m) { var d = JSON.parse(m.data); push(d.point); draw(); stats(d.stats, d.point); });
    });
  }

  // ---- connections ----
  function connTable(rows, onClick) {
    var tb = el('tbody');
    rows.forEach(function (c) {
      tb.appendChild(el('tr', { 'class': 'click', on: { click: function () { onClick(c); } } }, [
        el('td', { text: c.ref || 'c' + c.id }), el('td', { text: c.user }), el('td', { text: c.node || '' }), el('td', { text: c.remote + (c.ip ? ' (' + c.ip + ')' : '') }),
        el('td', { text: fmtTime(c.since) }), el('td', { text: c.platform || '' }), el('td', { text: c.sdk || '' }), el('td', { text: c.compression ? t('on') : t('off') }), el('td', { text: String(c.loop) })]));
    });
    return el('table', { 'class': 'conns' }, [el('thead', null, [el('tr', null, [t('id'), t('user'), t('node'), t('remote'), t('since'), t('platform'), t('sdk'), t('compression'), t('loop')].map(function (h) { return el('th', { text: h }); }))]), tb]);
  }
  function connDetail(box, id) {
    box.innerHTML = '';
    api('GET', 'connections/' + encodeURIComponent(id)).then(function (d) {
      var reason = el('input', { id: 'discReason', placeholder: t('reason'), maxlength: 123 });
      var out = el('span');
      box.appendChild(el('div', { 'class': 'card', id: 'detail' }, [el('h2', { text: t('details') + ' ' + (d.ref || 'c' + d.id) + ' · ' + d.user }),
        el('div', { 'class': 'grid' }, [[t('roomsOf'), d.rooms.join(', ') || '-'], [t('compression'), d.compression ? t('on') : t('off')], [t('queued'), fmtBytes(d.queued_bytes)],
          [t('lag'), fmtBytes(d.lag_bytes)], [t('lastActivity'), fmtTime(d.last_activity)], [t('rate'), d.rate_tokens.toFixed(1)], [t('remote'), d.remote], [t('since'), fmtTime(d.since)]]
          .map(function (it) { return el('div', { 'class': 'stat' }, [el('span', { text: it[0] }), el('b', { text: String(it[1]) })]); })),
        el('div', { 'class': 'row', style: 'margin-top:10px' }, [reason, el('button', { 'class': 'danger', id: 'discBtn', disabled: !isAdmin(), text: t('disconnect'), on: { click: function () {
          api('POST', 'connections/' + encodeURIComponent(d.ref || 'c' + d.id) + '/disconnect', { reason: reason.value }).then(function () { out.textContent = t('disconnected'); out.className = 'ok'; })
            .catch(function (e) { out.textContent = e.message; out.className = 'err'; });
        } } }), out])]));
    }).catch(function (e) { box.appendChild(el('p', { 'class': 'err', text: e.message })); });
  }
  function connections(main) {
    var f = { prefix: el('input', { id: 'prefix', placeholder: t('prefix') }), ip: el('input', { placeholder: t('ip'), size: 14 }), platform: el('input', { placeholder: t('platform'), size: 10 }), sdk: el('input', { placeholder: t('sdk'), size: 8 }), room: el('input', { placeholder: t('room'), size: 10 }), node: el('input', { placeholder: t('node'), size: 10 }) };
    var comp = el('select', null, [el('option', { value: '', text: t('compression') + ': ' + t('any') }), el('option', { value: 'on', text: t('on') }), el('option', { value: 'off', text: t('off') })]);
    var order = el('select', null, [el('option', { value: 'user', text: t('byUser') }), el('option', { value: 'oldest', text: t('oldest') })]);
    var info = el('p', { 'class': 'muted small', id: 'pageInfo' });
    var list = el('div', { id: 'connList' });
    var detail = el('div');
    var nextBtn = el('button', { type: 'button', 'class': 'ghost', id: 'nextPage', text: t('next'), disabled: true });
    var next = '';
    function load(cursor) {
      var q = new URLSearchParams({ limit: '25' });
      if (f.prefix.value) q.set('prefix', f.prefix.value);
      ['ip', 'platform', 'sdk', 'room', 'node'].forEach(function (k) { if (f[k].value) q.set(k, f[k].value); });
      if (comp.value) q.set('compression', comp.value);
      if (order.value === 'oldest' && !f.prefix.value) q.set('order', 'oldest');
      if (cursor) q.set('cursor', cursor);
      api('GET', 'connections?' + q).then(function (p) {
        list.innerHTML = ''; list.appendChild(connTable(p.connections, function (c) { connDetail(detail, c.ref || c.id); }));
        next = p.next || ''; nextBtn.disabled = !next;
        info.textContent = t('snapshot') + ' ' + fmtTime(p.taken) + ' · ' + p.total + ' ' + t('total') + ' · ' + t('scanned') + ' ' + p.scanned + (p.partial ? ' · ' + t('partial') : '') +
          (p.missing && p.missing.length ? ' · ' + t('missing') + ' ' + p.missing.join(', ') : '');
      }).catch(function (e) { info.textContent = e.message; });
    }
    nextBtn.addEventListener('click', function () { load(next); });
    function top(by) {
      api('GET', 'connections/top?k=20&by=' + by).then(function (r) {
        list.innerHTML = '';
        info.textContent = (by === 'queued' ? t('topQueued') : t('topOldest')) + ' · ' + t('snapshot') + ' ' + fmtTime(r.taken);
        if (by === 'queued') {
          var tb = el('tbody'); r.connections.forEach(function (c) { tb.appendChild(el('tr', { 'class': 'click', on: { click: function () { connDetail(detail, c.id); } } }, [el('td', { text: 'c' + c.id }), el('td', { text: c.user }), el('td', { text: fmtBytes(c.queued_bytes) }), el('td', { text: fmtBytes(c.lag_bytes) })])); });
          list.appendChild(el('table', null, [el('thead', null, [el('tr', null, [t('id'), t('user'), t('queued'), t('lag')].map(function (h) { return el('th', { text: h }); }))]), tb]));
          if (!r.connections.length) list.appendChild(el('p', { 'class': 'muted', text: t('none') }));
        } else list.appendChild(connTable(r.connections, function (c) { connDetail(detail, c.ref || c.id); }));
        nextBtn.disabled = true;
      });
    }
    main.appendChild(el('div', { 'class': 'card' }, [
      el('form', { 'class': 'row', on: { submit: function (e) { e.preventDefault(); load(''); } } }, [f.prefix, f.ip, f.platform, f.sdk, f.node, comp, order, el('button', { id: 'searchBtn', type: 'submit', text: t('search') }), nextBtn,
        el('button', { type: 'button', 'class': 'ghost', text: t('topQueued'), on: { click: function () { top('queued'); } } }),
        el('button', { type: 'button', 'class': 'ghost', text: t('topOldest'), on: { click: function () { top('oldest'); } } })]),
      info, list]));
    main.appendChild(detail);
    load('');
  }

  // ---- user ----
  function jsonBox(id, value) {
    var ta = el('textarea', { id: id, spellcheck: 'false' });
    ta.value = value;
    var note = el('span', { 'class': 'small' });
    function check() { try { JSON.parse(ta.value); note.textContent = t('valid'); note.className = 'small ok'; return true; } catch (e) { note.textContent = t('invalid') + e.message; note.className = 'small err'; return false; } }
    ta.addEventListener('input', check); check();
    return { ta: ta, note: note, ok: check, value: function () { return JSON.parse(ta.value); } };
  }
  function userPage(main, name) {
    var input = el('input', { id: 'userId', placeholder: t('user'), value: name || '' });
    var box = el('div');
    main.appendChild(el('div', { 'class': 'card' }, [el('form', { 'class': 'row', on: { submit: function (e) { e.preventDefault(); location.hash = '#/user/' + encodeURIComponent(input.value.trim()); } } },
      [input, el('button', { type: 'submit', id: 'lookupBtn', text: t('lookup') })])]));
    main.appendChild(box);
    if (!name) return;
    api('GET', 'users/' + encodeURIComponent(name)).then(function (u) {
      var p = u.presence;
      box.appendChild(el('div', { 'class': 'card' }, [el('h2', null, [name + ' ', el('span', { 'class': 'tag ' + (p.online ? 'ok' : 'bad'), id: 'presence', text: p.online ? t('online') : t('offline') })]),
        el('p', { 'class': 'muted', id: 'userNodes', text: t('conns') + ': ' + p.connections + (u.nodes && Object.keys(u.nodes).length ? ' · ' + t('nodes') + ': ' + Object.keys(u.nodes).sort().map(function (n) { return n + ' (' + u.nodes[n] + ')'; }).join(', ') : '') + (u.nodes_error ? ' · ' + u.nodes_error : '') }),
        el('p', { 'class': 'muted small', text: t('connsHere') }), connTable(u.connections, function (c) { location.hash = '#/connections'; setTimeout(function () { }, 0); })]));
      var tb = el('tbody');
      u.recent_disconnects.forEach(function (c) { tb.appendChild(el('tr', null, [el('td', { text: 'c' + c.id }), el('td', { text: fmtTime(c.closed) }), el('td', { text: c.reason }), el('td', { text: c.code ? c.code + ' / ' + c.close : '' }), el('td', { text: c.detail || '' }), el('td', { text: c.remote })])); });
      box.appendChild(el('div', { 'class': 'card' }, [el('h2', { text: t('recent') }), el('table', { id: 'recent' }, [el('thead', null, [el('tr', null, [t('id'), t('closed'), t('closeReason'), t('code'), t('given'), t('remote')].map(function (h) { return el('th', { text: h }); }))]), tb])]));
      var hist = el('div', { 'class': 'card', id: 'history' }, [el('h2', { text: t('history') })]);
      if (!u.history_on) hist.appendChild(el('p', { 'class': 'muted', text: t('noHistory') }));
      else if (!u.history || !u.history.length) hist.appendChild(el('p', { 'class': 'muted', text: t('none') + (u.history_error ? ' (' + u.history_error + ')' : '') }));
      else hist.appendChild(el('pre', { text: u.history.map(function (m) { return JSON.stringify(m); }).join('\n') }));
      box.appendChild(hist);
      var j = jsonBox('userData', '{"type":"test","text":"hello from the console"}');
      var reason = el('input', { placeholder: t('reason'), id: 'kickReason', maxlength: 123 });
      var out = el('pre', { id: 'userOut', hidden: true });
      function show(r) { out.hidden = false; out.textContent = JSON.stringify(r, null, 2); }
      function send(dry) { if (!j.ok()) return; api('POST', 'users/' + encodeURIComponent(name) + '/push', { data: j.value(), dry_run: dry }).then(show).catch(function (e) { show(e.body || e.message); }); }
      box.appendChild(el('div', { 'class': 'card' }, [el('h2', { text: t('pushTest') }), j.ta, j.note,
        el('div', { 'class': 'row', style: 'margin-top:8px' }, [el('button', { id: 'userDry', 'class': 'ghost', disabled: !isAdmin(), text: t('dryRun'), on: { click: function () { send(true); } } }),
          el('button', { id: 'userSend', disabled: !isAdmin(), text: t('send'), on: { click: function () { send(false); } } }), reason,
          el('button', { id: 'kickBtn', 'class': 'danger', disabled: !isAdmin(), text: t('kick'), on: { click: function () {
            api('POST', 'users/' + encodeURIComponent(name) + '/kick', { reason: reason.value }).then(show).catch(function (e) { show(e.body || e.message); });
          } } })]), out]));
    }).catch(function (e) { box.appendChild(el('p', { 'class': 'err', text: e.message })); });
  }

  // ---- rooms ----
  function roomsPage(main, name) {
    var input = el('input', { id: 'roomName', placeholder: t('room'), value: name || '' });
    var box = el('div');
    main.appendChild(el('div', { 'class': 'card' }, [el('form', { 'class': 'row', on: { submit: function (e) { e.preventDefault(); location.hash = '#/rooms/' + encodeURIComponent(input.value.trim()); } } },
      [input, el('button', { type: 'submit', text: t('lookup') })])]));
    main.appendChild(box);
    if (!name) {
      var list = el('div', { id: 'roomList' }), info = el('p', { 'class': 'muted small' });
      var nextBtn = el('button', { type: 'button', 'class': 'ghost', id: 'roomsNext', text: t('next'), disabled: true });
      var firstBtn = el('button', { type: 'button', 'class': 'ghost', text: t('first') });
      var next = '';
      var load = function (after) {
        api('GET', 'rooms?limit=25' + (after ? '&after=' + encodeURIComponent(after) : '')).then(function (p) {
          list.innerHTML = '';
          var tb = el('tbody');
          p.rooms.forEach(function (r) { tb.appendChild(el('tr', { 'class': 'click', on: { click: function () { location.hash = '#/rooms/' + encodeURIComponent(r.room); } } }, [el('td', { text: r.room }), el('td', { text: String(r.users) })])); });
          list.appendChild(el('table', null, [el('thead', null, [el('tr', null, [t('room'), t('users')].map(function (h) { return el('th', { text: h }); }))]), tb]));
          if (!p.rooms.length) list.appendChild(el('p', { 'class': 'muted', text: t('none') }));
          next = p.next || ''; nextBtn.disabled = !next;
          info.textContent = t('snapshot') + ' ' + fmtTime(p.taken);
        }).catch(function (e) { info.textContent = e.message; });
      };
      nextBtn.addEventListener('click', function () { load(next); });
      firstBtn.addEventListener('click', function () { load(''); });
      box.appendChild(el('div', { 'class': 'card' }, [el('h2', { text: t('rooms') }), el('div', { 'class': 'row' }, [firstBtn, nextBtn]), info, list]));
      load('');
      return;
    }
    api('GET', 'rooms/' + encodeURIComponent(name)).then(function (r) {
      box.appendChild(el('div', { 'class': 'card' }, [el('h2', { text: name }),
        el('p', { 'class': 'muted', text: t('users') + ': ' + r.users + ' · ' + t('members') + ': ' + r.members_here }),
        el('p', { id: 'roomUsers', text: r.members.join(', ') + (r.next ? ' …' : '') }),
        connTable(r.connections, function () { })]));
      var j = jsonBox('roomData', '{"type":"notice","text":"hello room"}');
      var out = el('pre', { hidden: true });
      function send(dry) { if (!j.ok()) return; api('POST', 'rooms/' + encodeURIComponent(name) + '/publish', { data: j.value(), dry_run: dry }).then(function (x) { out.hidden = false; out.textContent = JSON.stringify(x, null, 2); }).catch(function (e) { out.hidden = false; out.textContent = e.message; }); }
      box.appendChild(el('div', { 'class': 'card' }, [el('h2', { text: t('publish') }), j.ta, j.note, el('div', { 'class': 'row', style: 'margin-top:8px' }, [
        el('button', { 'class': 'ghost', disabled: !isAdmin(), text: t('dryRun'), on: { click: function () { send(true); } } }), el('button', { disabled: !isAdmin(), text: t('publish'), on: { click: function () { send(false); } } })]), out]));
    }).catch(function (e) { box.appendChild(el('p', { 'class': 'err', text: e.message })); });
  }

  // ---- push and broadcast ----
  function pushPage(main) {
    var mode = el('select', { id: 'pushMode' }, [el('option', { value: 'users', text: t('toUsers') }), el('option', { value: 'room', text: t('toRoom') }), el('option', { value: 'all', text: t('toAll') })]);
    var target = el('input', { id: 'pushTarget', placeholder: t('usersList'), size: 40 });
    var id = el('input', { placeholder: 'id', size: 16 });
    var j = jsonBox('pushData', '{\n  "type": "notice",\n  "text": "hello"\n}');
    var out = el('pre', { id: 'pushOut', hidden: true });
    mode.addEventListener('change', function () { target.hidden = mode.value === 'all'; target.placeholder = mode.value === 'room' ? t('room') : t('usersList'); });
    function send(dry) {
      if (!j.ok()) return;
      var body = { data: j.value(), dry_run: dry }, path = 'broadcast';
      if (id.value) body.id = id.value;
      if (mode.value === 'users') { path = 'push'; body.users = target.value.split(',').map(function (s) { return s.trim(); }).filter(Boolean); }
      if (mode.value === 'room') path = 'rooms/' + encodeURIComponent(target.value.trim()) + '/publish';
      api('POST', path, body).then(function (r) { out.hidden = false; out.textContent = JSON.stringify(r, null, 2); }).catch(function (e) { out.hidden = false; out.textContent = JSON.stringify(e.body || e.message, null, 2); });
    }
    main.appendChild(el('div', { 'class': 'card' }, [el('div', { 'class': 'row' }, [el('label', null, [el('span', { text: t('mode') }), mode]), target, id]),
      el('label', null, [el('span', { text: t('data') }), j.ta]), j.note,
      el('div', { 'class': 'row', style: 'margin-top:8px' }, [el('button', { 'class': 'ghost', id: 'pushDry', disabled: !isAdmin(), text: t('dryRun'), on: { click: function () { send(true); } } }),
        el('button', { id: 'pushSend', disabled: !isAdmin(), text: t('send'), on: { click: function () { send(false); } } })]),
      el('h3', { text: t('answer'), style: 'margin-top:10px' }), out]));
  }

  // ---- webhook, audit, config ----
  function webhookPage(main) {
    api('GET', 'webhook').then(function (w) {
      var box = el('div', { 'class': 'card' }, [el('h2', { text: t('webhook') })]);
      if (!w.enabled) box.appendChild(el('p', { 'class': 'muted', text: t('noWebhook') }));
      var tb = el('tbody');
      Object.keys(w.metrics || {}).sort().forEach(function (name) {
        w.metrics[name].forEach(function (s) {
          var labels = Object.keys(s).filter(function (k) { return k !== 'value'; }).map(function (k) { return k + '=' + s[k]; }).join(' ');
          tb.appendChild(el('tr', null, [el('td', { text: name }), el('td', { text: labels }), el('td', { text: String(s.value) })]));
        });
      });
      box.appendChild(el('table', null, [el('thead', null, [el('tr', null, [t('metric'), '', t('value')].map(function (h) { return el('th', { text: h }); }))]), tb]));
      main.appendChild(box);
      if (w.enabled) {
        var fb = el('tbody');
        (w.failures || []).forEach(function (f) { fb.appendChild(el('tr', null, [el('td', { text: fmtTime(f.t) }), el('td', { text: f.status ? String(f.status) : '-' }), el('td', { text: f.error || '' }), el('td', { text: String(f.events) }), el('td', { text: String(f.attempt) }), el('td', { text: f.final ? t('lost') : t('retried') })])); });
        main.appendChild(el('div', { 'class': 'card' }, [el('h2', { text: t('failures') }), el('table', { id: 'webhookFailures' }, [el('thead', null, [el('tr', null, [t('when'), t('status'), t('error'), t('events'), t('attempt'), ''].map(function (h) { return el('th', { text: h }); }))]), fb]),
          (w.failures || []).length ? null : el('p', { 'class': 'muted', text: t('none') })]));
      }
    });
  }
  function auditPage(main) {
    api('GET', 'audit').then(function (a) {
      var tb = el('tbody');
      a.entries.forEach(function (e) { tb.appendChild(el('tr', null, [el('td', { text: fmtTime(e.t) }), el('td', { text: e.who + (e.role ? ' (' + e.role + ')' : '') }), el('td', { text: e.addr }), el('td', { text: e.action + (e.dry_run ? ' (' + t('dryRun') + ')' : '') }), el('td', { text: e.target || '' }), el('td', { text: e.reason || '' }), el('td', { text: e.result }), el('td', { text: e.data ? JSON.stringify(e.data) : '' })])); });
      main.appendChild(el('div', { 'class': 'card' }, [el('h2', { text: t('audit') + ' (≤ ' + a.cap + ')' }), el('table', { id: 'auditTable' }, [el('thead', null, [el('tr', null, [t('when'), t('who'), t('remote'), t('action'), t('target'), t('reason'), t('result'), t('data')].map(function (h) { return el('th', { text: h }); }))]), tb])]));
    });
  }
  function configPage(main) {
    api('GET', 'config').then(function (c) { main.appendChild(el('div', { 'class': 'card' }, [el('h2', { text: t('config') }), el('pre', { id: 'configText', text: c.config || '' })])); });
  }

  // ---- live tail ----
  function tailPage(main) {
    var user = el('input', { id: 'tailUser', placeholder: t('user') }), room = el('input', { placeholder: t('room') });
    var types = el('input', { id: 'tailTypes', placeholder: t('types') + ': connect,disconnect,push,publish,broadcast,slow_consumer,redis', size: 48 });
    var list = el('div', { 'class': 'tail', id: 'tailList' });
    var paused = false, es = null;
    var btn = el('button', { id: 'tailBtn', text: t('pause') });
    function line(cls, text) { list.insertBefore(el('div', { 'class': cls, text: text }), list.firstChild); while (list.childNodes.length > 500) list.removeChild(list.lastChild); }
    function open() {
      if (es) es.close();
      var q = new URLSearchParams();
      if (user.value) q.set('user', user.value); if (room.value) q.set('room', room.value); if (types.value) q.set('types', types.value.replace(/\s/g, ''));
      es = new EventSource('/console/api/tail?' + q); streams.push(es);
      es.addEventListener('event', function (m) {
        if (paused) return;
        var e = JSON.parse(m.data);
        var parts = [new Date(e.t).toLocaleTimeString(), e.type, e.node, e.user && 'user=' + e.user, e.room && 'room=' + e.room, e.conn && 'c' + e.conn, e.reason && 'reason=' + e.reason, e.code && 'code=' + e.code,
          e.id && 'id=' + e.id, e.bytes && e.bytes + 'B', e.receivers !== undefined && e.type !== 'connect' && e.type !== 'disconnect' ? '→' + e.receivers : null, e.detail];
        line('ev ev-' + e.type, parts.filter(Boolean).join('  '));
      });
      es.addEventListener('sampled', function (m) { var d = JSON.parse(m.data); line('notice', t('sampled').replace('%n', d.dropped).replace('%r', d.rate)); });
    }
    btn.addEventListener('click', function () { paused = !paused; btn.textContent = paused ? t('resume') : t('pause'); });
    main.appendChild(el('div', { 'class': 'card' }, [el('form', { 'class': 'row', on: { submit: function (e) { e.preventDefault(); list.innerHTML = ''; open(); } } }, [user, room, types, el('button', { type: 'submit', text: t('start') }), btn,
      el('button', { type: 'button', 'class': 'ghost', text: t('clear'), on: { click: function () { list.innerHTML = ''; } } })]), list]));
    open();
  }

  translate();
  api('GET', 'session').then(start).catch(function () { showLogin(); });
})();
