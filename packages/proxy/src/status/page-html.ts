/**
 * The status page's markup: static, with no data and no inline script or
 * style (the CSP forbids both); assets/status.js fills it from the API.
 * Embedded as a string so the single-executable release needs no files.
 */
/** A small icon, so that the browser does not ask for /favicon.ico (a 404). */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#3b7ddd"/><path d="M5 11V5h4a2 2 0 0 1 0 4H5" fill="none" stroke="#fff" stroke-width="1.6"/></svg>';

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pushprox-proxy</title>
<link rel="icon" href="assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="assets/status.css">
<script src="assets/status.js" defer></script>
</head>
<body>
<header>
  <h1>pushprox-proxy <span id="version"></span></h1>
  <dl id="summary"></dl>
</header>
<p id="error" class="error" hidden></p>
<section id="limits" aria-label="Limits"></section>
<details id="config-box"><summary>Effective configuration</summary><table id="config"></table></details>
<form id="filters" autocomplete="off">
  <label>Search <input id="search" type="search" placeholder="FQDN, label, module, version"></label>
  <label><input id="failing" type="checkbox"> only failing</label>
  <label><input id="idle" type="checkbox"> only idle</label>
  <label>Label <input id="label" placeholder="name or name=value"></label>
  <label>Held by <input id="heldBy" placeholder="local, remote or a proxy"></label>
  <label>Sort <select id="sort">
    <option value="fqdn">FQDN</option><option value="lastScrape">last scrape</option>
    <option value="errors">errors (5 m)</option><option value="p99">p99</option><option value="since">connected since</option>
  </select></label>
  <label><select id="order"><option value="asc">ascending</option><option value="desc">descending</option></select></label>
  <label>Rows <select id="limit"><option>100</option><option>500</option><option>1000</option></select></label>
</form>
<p id="count"></p>
<table id="clients">
<thead><tr>
  <th data-sort="fqdn">FQDN</th><th>Labels</th><th>Modules</th><th>Transport</th><th>Held by</th><th>Version</th><th data-sort="since">Connected since</th>
  <th data-sort="lastScrape">Last scrape</th><th>Status</th><th>Duration</th><th>Size</th><th>Error</th>
  <th>Scrapes 5 m</th><th data-sort="errors">Errors 5 m</th><th>p50</th><th data-sort="p99">p99</th>
</tr></thead>
<tbody id="rows"></tbody>
</table>
<nav id="pager"><button id="prev" type="button">Previous</button> <span id="page"></span> <button id="next" type="button">Next</button></nav>
<section id="detail" hidden>
  <h2>Last scrapes of <span id="detail-title"></span> <button id="detail-close" type="button">Close</button></h2>
  <table><thead><tr><th>When</th><th>Status</th><th>Duration</th><th>Size</th><th>Error</th></tr></thead><tbody id="detail-rows"></tbody></table>
</section>
<footer id="updated"></footer>
</body>
</html>
`;
