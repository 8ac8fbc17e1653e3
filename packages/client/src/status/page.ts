/**
 * The client's status page, embedded as strings (the single-executable
 * release reads no files). Static markup; the script fills it from
 * /api/v1/status once a second with createElement and textContent only (no
 * HTML parser ever sees data: a target or an error text is shown as text).
 */
export const CLIENT_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pushprox-client</title>
<link rel="stylesheet" href="assets/client-status.css">
<script src="assets/client-status.js" defer></script>
</head>
<body>
<h1>pushprox-client <span id="version"></span></h1>
<p id="error" class="error" hidden></p>
<dl id="summary"></dl>
<h2>Connection to <span id="proxy"></span></h2>
<p id="state"></p>
<dl id="connection"></dl>
<section id="links-section" hidden>
<h2>Every proxy and FQDN</h2>
<table><thead><tr><th>Proxy</th><th>FQDN</th><th>State</th><th>Why</th><th>Last poll answered</th></tr></thead><tbody id="links"></tbody></table>
</section>
<section id="modules-section" hidden>
<h2>Modules</h2>
<p id="modules-reload"></p>
<table><thead><tr><th>Module</th><th>Kind</th><th>Runs</th><th>Verify</th><th>Last run</th><th>Status</th><th>Duration</th><th>Error</th></tr></thead><tbody id="modules"></tbody></table>
</section>
<h2>Recent scrapes</h2>
<table><thead><tr><th>When</th><th>Target</th><th>Status</th><th>Duration</th><th>Error</th></tr></thead><tbody id="scrapes"></tbody></table>
<h2>Recent refusals</h2>
<table><thead><tr><th>When</th><th>Target</th><th>Reason</th><th>Why</th></tr></thead><tbody id="refusals"></tbody></table>
<footer id="updated"></footer>
</body>
</html>
`;

export const CLIENT_PAGE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 1.5rem; color: #1d2330; }
h1 { font-size: 1.4rem; } h1 span { font-size: .9rem; color: #667; font-weight: normal; }
h2 { font-size: 1.1rem; margin-top: 1.2rem; }
dl { display: flex; flex-wrap: wrap; gap: .2rem 1.5rem; } dl div { display: flex; gap: .4rem; }
dt { color: #667; } dd { margin: 0; font-weight: 600; }
#state { font-weight: 600; font-size: 1.05rem; }
#state.backing-off { color: #b71c1c; } #state.channel, #state.polling { color: #1b5e20; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #e4e7ee; vertical-align: top; }
th { background: #f3f5f9; }
tr.down { background: #fde8e8; } td.reason { color: #b71c1c; overflow-wrap: anywhere; white-space: pre-wrap; }
.error { color: #b71c1c; font-weight: 600; }
td.details { color: #667; font-size: .9em; } #modules-reload.failed { color: #b71c1c; font-weight: 600; }
footer { color: #667; margin-top: .6rem; font-size: .85em; }
`;

export const CLIENT_PAGE_SCRIPT = String.raw`'use strict';
(function () {
  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function ago(iso) {
    if (!iso) return 'never';
    var s = Math.round((Date.now() - Date.parse(iso)) / 1000);
    return s >= 0 ? s + ' s ago' : 'in ' + -s + ' s';
  }
  function until(iso) {
    return 'in ' + Math.max(0, Math.ceil((Date.parse(iso) - Date.now()) / 1000)) + ' s';
  }
  function items(dl, pairs) {
    var frag = document.createDocumentFragment();
    pairs.forEach(function (p) {
      if (p[1] === null || p[1] === undefined || p[1] === '') return;
      var div = el('div');
      div.appendChild(el('dt', p[0]));
      div.appendChild(el('dd', p[1]));
      frag.appendChild(div);
    });
    dl.replaceChildren(frag);
  }
  function rows(tbody, list, cells) {
    var frag = document.createDocumentFragment();
    list.forEach(function (x) {
      var tr = el('tr', null, x.error ? 'down' : 'up');
      cells(x).forEach(function (c) { tr.appendChild(el('td', c[0], c[1])); });
      frag.appendChild(tr);
    });
    tbody.replaceChildren(frag);
  }
  function renderModules(m) {
    $('modules-section').hidden = !m;
    if (!m) return;
    var r = $('modules-reload');
    r.className = m.lastReload.ok ? '' : 'failed';
    r.textContent = m.lastReload.ok ? m.list.length + ' module' + (m.list.length === 1 ? '' : 's') + ', loaded ' + ago(m.lastReload.at)
      + (m.defaultModule ? '; default module ' + m.defaultModule : '')
      : 'Last reload failed ' + ago(m.lastReload.at) + ', still using the previous modules: ' + m.lastReload.error;
    var frag = document.createDocumentFragment();
    m.list.forEach(function (x) {
      var l = x.last;
      var tr = el('tr', null, l && l.error ? 'down' : 'up');
      tr.dataset.module = x.name;
      var runs = el('td');
      runs.appendChild(el('div', x.target));
      if (x.details.length) runs.appendChild(el('div', x.details.join('; '), 'details'));
      [[x.name], [x.kind + ' (' + x.style + ')'], null, [x.verify ? 'on' : 'off'], [l ? ago(l.at) : 'never'],
        [l ? (l.status || 'no answer') : ''], [l ? (l.durationSeconds * 1000).toFixed(1) + ' ms' : ''], [l ? l.error : '', 'reason']]
        .forEach(function (c) { tr.appendChild(c ? el('td', c[0], c[1]) : runs); });
      frag.appendChild(tr);
    });
    $('modules').replaceChildren(frag);
  }
  function render(d) {
    $('version').textContent = d.version;
    $('proxy').textContent = d.proxyUrl;
    var c = d.connection;
    var state = $('state');
    state.className = c.state.replace(' ', '-');
    state.textContent = c.state === 'backing off' ? 'backing off, next poll ' + until(c.retryAt) + ': ' + c.reason
      : c.state + ' (' + c.mode + ', ' + c.loops + (c.state === 'channel' ? ' channel' : ' poll loop') + (c.loops === 1 ? '' : 's') + ')';
    items($('summary'), [['FQDN', d.fqdn], ['scrapes running', d.scrapes.running], ['waiting', d.scrapes.waiting],
      ['scraped', d.history.totals.scraped], ['failed', d.history.totals.failed], ['refused', d.history.totals.refused]]);
    items($('connection'), [['last poll answered', ago(c.lastPollOk)],
      ['last poll error', c.lastError && c.lastError.reason + ' (' + ago(c.lastError.at) + ')'],
      ['channel unavailable', c.channelDown && c.channelDown.reason + ' (' + ago(c.channelDown.at) + ', next try ' + until(c.channelDown.retryAt) + ')']]);
    // Several --proxy-url, or a gateway's FQDNs: one row per link, red while it backs off.
    var links = (d.connections || []).map(function (l) {
      var why = l.state === 'backing off' ? l.reason + ' (next poll ' + until(l.retryAt) + ')'
        : l.channelDown ? 'channel unavailable: ' + l.channelDown.reason : '';
      return { error: l.state === 'backing off', cells: [[l.proxyUrl], [l.fqdn], [l.state + ' (' + l.mode + ', ' + l.loops + ')'], [why, 'reason'], [ago(l.lastPollOk)]] };
    });
    $('links-section').hidden = links.length < 2;
    rows($('links'), links, function (l) { return l.cells; });
    rows($('scrapes'), d.history.scrapes, function (s) {
      return [[ago(s.at)], [s.target], [s.status], [(s.durationSeconds * 1000).toFixed(1) + ' ms'], [s.error, 'reason']];
    });
    renderModules(d.modules);
    rows($('refusals'), d.history.refusals, function (s) { return [[ago(s.at)], [s.target], [s.reason], [s.error, 'reason']]; });
  }
  function refresh() {
    fetch('api/v1/status', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (j) {
      if (j.status !== 'success') throw new Error(j.error || 'unexpected answer');
      render(j.data);
      $('error').hidden = true;
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    }).catch(function (err) {
      $('error').textContent = 'Cannot update: ' + err.message;
      $('error').hidden = false;
    }).then(function () { setTimeout(refresh, 1000); });
  }
  document.addEventListener('DOMContentLoaded', refresh);
})();
`;
