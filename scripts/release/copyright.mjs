// The licences of what the artifacts carry: pushprox-ts itself, the npm
// packages that esbuild put in the bundles, and (for the executables) Node.js.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The npm packages in esbuild metafiles' inputs, sorted by name:
 * { name, version, license, dir }. Workspace packages are left out.
 */
export function bundledPackages(root, metafiles) {
  const found = new Map();
  for (const meta of metafiles) {
    for (const input of Object.keys(meta.inputs)) {
      const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (!m) continue;
      const dir = path.join(root, input.slice(0, m.index + m[0].length));
      if (found.has(dir)) continue;
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.name?.startsWith('@pushprox/')) continue;
      found.set(dir, { name: pkg.name, version: pkg.version, license: String(pkg.license ?? 'UNKNOWN'), dir });
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}

function licenseFile(dir) {
  const name = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  return name === undefined ? undefined : readFileSync(path.join(dir, name), 'utf8').trim();
}

/** Node.js' own LICENSE (its dependencies' licences too), where the node that builds was installed from. */
function nodeLicense() {
  const candidates = [
    path.resolve(path.dirname(process.execPath), '../share/doc/nodejs/LICENSE'),
    path.resolve(path.dirname(process.execPath), '../share/doc/node/LICENSE'),
    '/usr/share/doc/nodejs/LICENSE',
  ];
  const file = candidates.find((f) => existsSync(f));
  return file === undefined ? undefined : readFileSync(file, 'utf8').trim();
}

/** Debian copyright format 1.0 text lines: blank lines become " .", each line indented. */
function formatBody(text) {
  return text
    .replace(/\r/g, '')
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l}`))
    .join('\n');
}

/** The Debian copyright file (machine-readable format 1.0). */
export function copyrightText({ bundled }) {
  const parts = [
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: pushprox-ts',
      'Comment: pushprox-proxy and pushprox-client are Node.js single executable',
      ' applications: a copy of the node binary with one JavaScript bundle',
      ' injected. The bundle holds pushprox-ts and the npm packages listed below;',
      ' the binary is Node.js with its own bundled libraries.',
    ].join('\n'),
    ['Files: *', 'Copyright: pushprox-ts authors', 'License: Apache-2.0'].join('\n'),
  ];
  const node = nodeLicense();
  parts.push(
    [
      'Files: usr/bin/pushprox-proxy usr/bin/pushprox-client',
      'Copyright: Node.js contributors and the authors of its dependencies',
      `Comment: Node.js ${process.version}, the node binary these executables are made from.`,
      node === undefined ? 'License: Expat' : `License: Node.js\n${formatBody(node)}`,
    ].join('\n'),
  );
  for (const p of bundled) {
    const text = licenseFile(p.dir);
    parts.push(
      [
        `Files: usr/bin/pushprox-proxy usr/bin/pushprox-client`,
        `Copyright: the authors of the npm package ${p.name}`,
        `Comment: npm package ${p.name} ${p.version}, bundled.`,
        text === undefined ? `License: ${p.license}` : `License: ${p.license}\n${formatBody(text)}`,
      ].join('\n'),
    );
  }
  parts.push(
    [
      'License: Apache-2.0',
      ' Licensed under the Apache License, Version 2.0 (the "License"); you may',
      ' not use this file except in compliance with the License.',
      ' .',
      ' On Debian systems, the complete text of the Apache License, Version 2.0',
      ' can be found in "/usr/share/common-licenses/Apache-2.0".',
    ].join('\n'),
  );
  return parts.join('\n\n') + '\n';
}
