/** The status page's stylesheet, embedded (see page-html.ts). */
export const PAGE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 1.5rem; color: #1d2330; background: #fff; }
h1 { font-size: 1.4rem; margin: 0 0 .4rem; }
h1 span { font-size: .9rem; color: #667; font-weight: normal; }
h2 { font-size: 1.1rem; }
dl#summary { display: flex; flex-wrap: wrap; gap: .2rem 1.5rem; margin: 0 0 .6rem; }
dl#summary div { display: flex; gap: .4rem; }
dt { color: #667; }
dd { margin: 0; font-weight: 600; }
#limits { display: flex; gap: 1.5rem; flex-wrap: wrap; margin-bottom: .6rem; }
.limit { min-width: 14rem; }
.bar { height: .5rem; background: #e4e7ee; border-radius: .25rem; overflow: hidden; }
.bar > span { display: block; height: 100%; background: #3b7ddd; }
.bar.warn > span { background: #d98c00; }
.bar.full > span { background: #c62828; }
form#filters { display: flex; flex-wrap: wrap; gap: .4rem 1rem; align-items: center; margin: .6rem 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #e4e7ee; vertical-align: top; }
th { background: #f3f5f9; position: sticky; top: 0; }
th[data-sort] { cursor: pointer; text-decoration: underline dotted; }
tbody#rows tr { cursor: pointer; }
tbody#rows tr:hover { background: #f7f9fc; }
tr.down { background: #fde8e8; }
tr.down:hover { background: #fbd5d5; }
tr.down td.reason { color: #b71c1c; font-weight: 600; }
tr.unknown { color: #667; }
td.fqdn { white-space: nowrap; }
td.reason { max-width: 32rem; overflow-wrap: anywhere; white-space: pre-wrap; }
.chip { display: inline-block; background: #eef1f7; border-radius: .2rem; padding: 0 .3rem; margin: 0 .2rem .1rem 0; font-size: .85em; }
.error { color: #b71c1c; font-weight: 600; }
#detail { margin-top: 1rem; border-top: 2px solid #3b7ddd; }
#config td:first-child { color: #667; }
footer { color: #667; margin-top: .6rem; font-size: .85em; }
`;
