/**
 * The status page's script, embedded (see page-html.ts). It polls the JSON
 * API and rebuilds the table. Invariant: it creates every node with
 * createElement and fills it with textContent, never innerHTML or any other
 * HTML parser, so nothing a client sends (FQDN, labels, error text, version)
 * can become markup; the CSP forbids inline script and eval besides.
 */
export const PAGE_SCRIPT = String.raw`'use strict';
(function () {
  var REFRESH_MS = 1000;
  var state = { offset: 0, detail: null, firstRender: true, timer: 0, seq: 0 };
  var t0 = performance.now();
  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function dur(s) {
    if (s === null || s === undefined) return '';
    if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 1 : 0) + ' ms';
    return s.toFixed(2) + ' s';
  }
  function bytes(b) {
    if (b === null || b === undefined) return '';
    if (b < 1024) return b + ' B';
    if (b < 1048576) return (b / 1024).toFixed(1) + ' KiB';
    return (b / 1048576).toFixed(1) + ' MiB';
  }
  function ago(iso) {
    if (!iso) return 'never';
    var s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 90) return Math.round(s) + ' s ago';
    if (s < 5400) return Math.round(s / 60) + ' min ago';
    if (s < 129600) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }
  function getJson(url) {
    return fetch(url, { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      return r.json().catch(function () { throw new Error('HTTP ' + r.status + ' from ' + url); });
    }).then(function (j) {
      if (j.status !== 'success') throw new Error(j.error || 'unexpected answer from ' + url);
      return j.data;
    });
  }
  function query() {
    var p = new URLSearchParams();
    var search = $('search').value.trim();
    var label = $('label').value.trim();
    var heldBy = $('heldBy').value.trim();
    if (heldBy) p.set('heldBy', heldBy);
    if (search) p.set('search', search);
    if (label) p.set('label', label);
    if ($('failing').checked) p.set('failing', 'true');
    if ($('idle').checked) p.set('idle', 'true');
    p.set('sort', $('sort').value);
    p.set('order', $('order').value);
    p.set('limit', $('limit').value);
    p.set('offset', String(state.offset));
    return p.toString();
  }
  function chips(cell, items) {
    items.forEach(function (text) { cell.appendChild(el('span', text, 'chip')); });
    return cell;
  }
  function labelTexts(labels) {
    return Object.keys(labels).sort().map(function (k) { return k + '=' + labels[k]; });
  }
  function row(c) {
    var tr = el('tr', null, c.health);
    tr.dataset.fqdn = c.fqdn;
    tr.appendChild(el('td', c.fqdn, 'fqdn'));
    tr.appendChild(chips(el('td', null, 'labels'), labelTexts(c.labels)));
    tr.appendChild(chips(el('td', null, 'modules'), c.modules.map(function (m) { return m.name; })));
    tr.appendChild(el('td', c.transport + (c.waitingPolls || !c.local ? '' : ' (busy or away)')));
    tr.appendChild(el('td', c.local ? (c.heldBy ? c.heldBy + ' (this proxy)' : 'this proxy') : c.heldBy, 'held-by'));
    tr.appendChild(el('td', c.version));
    tr.appendChild(el('td', ago(c.since)));
    tr.appendChild(el('td', ago(c.lastScrape)));
    tr.appendChild(el('td', c.lastScrapeStatus === null ? '' : c.lastScrapeStatus, 'status'));
    tr.appendChild(el('td', dur(c.lastScrapeDuration)));
    tr.appendChild(el('td', bytes(c.lastScrapeBytes)));
    tr.appendChild(el('td', c.lastError, 'reason'));
    tr.appendChild(el('td', c.scrapes5m));
    tr.appendChild(el('td', c.errors5m));
    tr.appendChild(el('td', dur(c.p50Seconds)));
    tr.appendChild(el('td', dur(c.p99Seconds)));
    return tr;
  }
  function renderClients(d) {
    var frag = document.createDocumentFragment();
    d.clients.forEach(function (c) { frag.appendChild(row(c)); });
    $('rows').replaceChildren(frag);
    $('count').textContent = d.matched + ' of ' + d.total + ' clients match';
    var pages = Math.max(1, Math.ceil(d.matched / d.limit));
    $('page').textContent = 'page ' + (Math.floor(d.offset / d.limit) + 1) + ' of ' + pages;
    $('prev').disabled = d.offset === 0;
    $('next').disabled = d.offset + d.limit >= d.matched;
  }
  function summaryItem(frag, name, value) {
    var div = el('div');
    div.appendChild(el('dt', name));
    div.appendChild(el('dd', value));
    frag.appendChild(div);
  }
  function renderStatus(s) {
    $('version').textContent = s.version;
    var frag = document.createDocumentFragment();
    summaryItem(frag, 'uptime', dur(s.uptimeSeconds).replace(/\.\d+ s$/, ' s'));
    s.listeners.forEach(function (l) {
      summaryItem(frag, l.role + ' listener', l.address + (l.tls ? ' (TLS' + (l.clientAuth ? ', ' + l.clientAuth : '') + ')' : ' (plain HTTP)'));
    });
    summaryItem(frag, 'basic auth', s.auth.basicAuth ? 'on' : 'off');
    summaryItem(frag, 'client tokens', s.auth.clientTokens ? 'on' : 'off');
    summaryItem(frag, 'enrollment', s.auth.enrollment ? 'on' : 'off');
    summaryItem(frag, 'last reload', s.reload.lastSuccessful ? 'ok' : 'FAILED: ' + s.reload.lastError);
    $('summary').replaceChildren(frag);
    var limits = document.createDocumentFragment();
    [['registered clients', s.limits.registeredClients, String], ['polls of the busiest FQDN', s.limits.pollsPerFqdn, String],
     ['largest body', s.limits.bodyBytes, bytes]].forEach(function (x) {
      var box = el('div', null, 'limit');
      box.appendChild(el('div', x[0] + ': ' + x[2](x[1].used) + (x[1].max === null ? '' : ' of ' + x[2](x[1].max))));
      var bar = el('div', null, 'bar' + (x[1].ratio >= 1 ? ' full' : x[1].ratio >= 0.8 ? ' warn' : ''));
      var fill = el('span');
      fill.style.width = Math.min(100, x[1].ratio * 100).toFixed(1) + '%';
      bar.appendChild(fill);
      box.appendChild(bar);
      limits.appendChild(box);
    });
    $('limits').replaceChildren(limits);
    var cfg = document.createDocumentFragment();
    Object.keys(s.config).forEach(function (k) {
      var tr = el('tr');
      tr.appendChild(el('td', k));
      tr.appendChild(el('td', JSON.stringify(s.config[k])));
      cfg.appendChild(tr);
    });
    $('config').replaceChildren(cfg);
  }
  function renderDetail(c) {
    $('detail-title').textContent = c.fqdn + (c.local ? '' : ' (held by ' + c.heldBy + ', which records its scrapes)');
    var frag = document.createDocumentFragment();
    c.history.forEach(function (h) {
      var tr = el('tr', null, h.error ? 'down' : 'up');
      tr.appendChild(el('td', ago(h.at)));
      tr.appendChild(el('td', h.status));
      tr.appendChild(el('td', dur(h.durationSeconds)));
      tr.appendChild(el('td', bytes(h.bytes)));
      tr.appendChild(el('td', h.error, 'reason'));
      frag.appendChild(tr);
    });
    $('detail-rows').replaceChildren(frag);
    $('detail').hidden = false;
  }
  // Each refresh has a number; an answer to an older one (the filter changed meanwhile) is dropped.
  function refresh() {
    var seq = ++state.seq;
    clearTimeout(state.timer);
    function current(render) { return function (d) { if (seq === state.seq) render(d); }; }
    var jobs = [getJson('api/v1/clients?' + query()).then(current(renderClients)), getJson('api/v1/status').then(current(renderStatus))];
    if (state.detail !== null) {
      jobs.push(getJson('api/v1/client?fqdn=' + encodeURIComponent(state.detail)).then(current(renderDetail), function () { $('detail').hidden = true; }));
    }
    Promise.all(jobs).then(function () {
      if (seq !== state.seq) return;
      $('error').hidden = true;
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      if (state.firstRender) {
        state.firstRender = false;
        document.body.dataset.firstRenderMs = String(Math.round(performance.now() - t0));
      }
    }, function (err) {
      if (seq !== state.seq) return;
      $('error').textContent = 'Cannot update: ' + err.message;
      $('error').hidden = false;
    }).then(function () {
      if (seq === state.seq) state.timer = setTimeout(refresh, REFRESH_MS);
    });
  }
  function restart() { state.offset = 0; refresh(); }
  document.addEventListener('DOMContentLoaded', function () {
    $('filters').addEventListener('submit', function (e) { e.preventDefault(); restart(); });
    ['search', 'label', 'heldBy'].forEach(function (id) { $(id).addEventListener('input', restart); });
    ['failing', 'idle', 'sort', 'order', 'limit'].forEach(function (id) { $(id).addEventListener('change', restart); });
    $('prev').addEventListener('click', function () { state.offset = Math.max(0, state.offset - Number($('limit').value)); refresh(); });
    $('next').addEventListener('click', function () { state.offset += Number($('limit').value); refresh(); });
    $('rows').addEventListener('click', function (e) {
      var tr = e.target.closest('tr');
      if (!tr) return;
      state.detail = tr.dataset.fqdn;
      refresh();
    });
    // A sortable column's header sorts by it; a second click reverses the order.
    document.querySelector('#clients thead').addEventListener('click', function (e) {
      var th = e.target.closest('th[data-sort]');
      if (!th) return;
      if ($('sort').value === th.dataset.sort) $('order').value = $('order').value === 'asc' ? 'desc' : 'asc';
      else $('sort').value = th.dataset.sort;
      restart();
    });
    $('detail-close').addEventListener('click', function () { state.detail = null; $('detail').hidden = true; });
    refresh();
  });
})();
`;
