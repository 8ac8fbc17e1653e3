// One CommonJS script per program, with every dependency inside: the main
// script of a Node 20 single executable must be CommonJS and can load only
// built-in modules from disk, and the npm package ships the same script so
// that it has no runtime dependencies.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { asciiStringWidthPlugin } from './string-width.mjs';

/**
 * The programs. `entry` is the package's bin, which imports the compiled
 * entry point (run `tsc -b` first) and adds what npm needs of it;
 * `lazy` lists the modules that the program's sources load by name through
 * `createRequire` instead of `import` (so that they cost nothing until used):
 * esbuild cannot see those calls, so the bundle carries them explicitly and
 * the sources' `createRequire` is served from the bundle (see
 * bundleShimsPlugin). A name missing here fails at run time with
 * MODULE_NOT_FOUND; the release test runs each such path.
 */
export const PROGRAMS = Object.freeze({
  'pushprox-proxy': {
    entry: 'packages/proxy/bin/pushprox-proxy.js',
    // yaml: the web config file parser. bcryptjs: its UMD file's text runs in
    // the bcrypt worker thread (resolved, then read with readFileSync).
    lazy: ['yaml'],
    embedResolved: ['bcryptjs'],
  },
  'pushprox-client': {
    entry: 'packages/client/bin/pushprox-client.js',
    // undici's index, and the modules that the client loads instead of it
    // when they are where it expects them (its own fallback is the index).
    // yaml: module files (--config.file) and --web.config.file. bcryptjs: basic
    // auth of the client's own listener (--web.listen-address), as the proxy's.
    lazy: [
      'yaml',
      'undici',
      'undici/lib/dispatcher/agent.js',
      'undici/lib/dispatcher/dispatcher.js',
      'undici/lib/dispatcher/proxy-agent.js',
      'undici/lib/api/index.js',
    ],
    embedResolved: ['bcryptjs'],
    // The run whose code the linux-x64 executable's code cache holds
    // (code-cache.mjs): flags parsed, every module a running client loads
    // evaluated, then a configuration error (the CA file does not exist).
    codeCacheRun: ['--proxy-url=http://127.0.0.1:1/', '--tls.cacert=/nonexistent/pushprox-ts-code-cache-run/ca.crt'],
  },
});

/**
 * Where the workspace's own modules appear to live inside the bundle: each
 * one's `import.meta.url` is its path under this root, so
 * `new URL('../../package.json', import.meta.url)` names an embedded file.
 * No real file is ever read under it.
 */
const VIRTUAL_ROOT = '/pushprox-ts.bundle';

const SHIM_NAMESPACE = 'pushprox-bundle-shim';

/**
 * Optional dependencies of dependencies, not installed, that their users
 * require inside try/catch and do without (debug: supports-color). Left as a
 * bare require, each would reach the single executable's require, which
 * loads only built-in modules and prints a warning on every start; the
 * bundle answers MODULE_NOT_FOUND itself instead.
 */
const ABSENT = ['supports-color'];

/**
 * Serves the workspace modules' `node:fs` and `node:module` from the bundle:
 * - `readFileSync` of a file under VIRTUAL_ROOT returns its embedded text
 *   (the workspace package.json files, for `--version`; the text of each
 *   `embedResolved` module); any other path goes to the real node:fs.
 * - `createRequire(url)` returns a require that knows only the `lazy`
 *   modules (bundled, evaluated on first require like an unbundled module)
 *   and resolves `embedResolved` names to their embedded files.
 * Dependencies keep the real modules: only the workspace's sources are shimmed.
 */
function bundleShimsPlugin(root, program) {
  const workspace = path.join(root, 'packages') + path.sep;
  const isWorkspaceSource = (file) => file.startsWith(workspace) && file.includes(`${path.sep}dist${path.sep}src${path.sep}`);
  const virtualPath = (file) => `${VIRTUAL_ROOT}/${path.relative(root, file).split(path.sep).join('/')}`;

  const embedded = {};
  for (const dir of ['packages/shared', 'packages/proxy', 'packages/client']) {
    const pkg = JSON.parse(readFileSync(path.join(root, dir, 'package.json'), 'utf8'));
    embedded[`${VIRTUAL_ROOT}/${dir}/package.json`] = JSON.stringify({ name: pkg.name, version: pkg.version });
  }
  const resolved = {};
  for (const id of program.embedResolved) {
    const real = createRequire(path.join(root, 'package.json')).resolve(id);
    const at = `${VIRTUAL_ROOT}/node_modules/${id}/${path.basename(real)}`;
    embedded[at] = readFileSync(real, 'utf8');
    resolved[id] = at;
  }

  const fsShim = `
import * as fs from 'node:fs';
export * from 'node:fs';
const EMBEDDED = ${JSON.stringify(embedded)};
const ROOT = ${JSON.stringify(VIRTUAL_ROOT + '/')};
function embeddedPath(file) {
  const p = file instanceof URL ? (file.protocol === 'file:' ? decodeURIComponent(file.pathname) : '') : typeof file === 'string' ? file : '';
  return p.startsWith(ROOT) ? p : undefined;
}
export function readFileSync(file, options) {
  const p = embeddedPath(file);
  if (p === undefined) return fs.readFileSync(file, options);
  const text = EMBEDDED[p];
  if (text === undefined) {
    const err = new Error(\`ENOENT: no such file in the bundle, open '\${p}'\`);
    err.code = 'ENOENT';
    throw err;
  }
  const encoding = typeof options === 'string' ? options : options?.encoding;
  return encoding ? Buffer.from(text, 'utf8').toString(encoding) : Buffer.from(text, 'utf8');
}
export default { ...fs, readFileSync };
`;
  const lazyEntries = program.lazy.map((id) => `  ${JSON.stringify(id)}: () => require(${JSON.stringify(id)}),`).join('\n');
  const moduleShim = `
export * from 'node:module';
import * as mod from 'node:module';
const LAZY = {
${lazyEntries}
};
const RESOLVED = ${JSON.stringify(resolved)};
function notBundled(id) {
  const err = new Error(\`Cannot find module '\${id}': it is not in this bundle (scripts/release/bundle.mjs lists the lazily loaded modules)\`);
  err.code = 'MODULE_NOT_FOUND';
  return err;
}
export function createRequire() {
  const cache = new Map();
  const req = (id) => {
    if (cache.has(id)) return cache.get(id);
    const load = LAZY[id];
    if (load === undefined) throw notBundled(id);
    const m = load();
    cache.set(id, m);
    return m;
  };
  req.resolve = (id) => {
    const at = RESOLVED[id];
    if (at === undefined) throw notBundled(id);
    return at;
  };
  return req;
}
export default { ...mod, createRequire };
`;

  return {
    name: 'pushprox-bundle-shims',
    setup(build) {
      const absent = new RegExp(`^(${ABSENT.join('|')})$`);
      build.onResolve({ filter: absent }, (args) => ({ path: args.path, namespace: `${SHIM_NAMESPACE}-absent` }));
      build.onLoad({ filter: /.*/, namespace: `${SHIM_NAMESPACE}-absent` }, (args) => ({
        contents: `const err = new Error("Cannot find module '${args.path}' (optional, not in this bundle)"); err.code = 'MODULE_NOT_FOUND'; throw err;`,
        loader: 'js',
      }));
      build.onResolve({ filter: /^(node:)?(fs|module)$/ }, (args) => {
        if (!isWorkspaceSource(args.importer)) return undefined;
        return { path: args.path.replace(/^node:/, ''), namespace: SHIM_NAMESPACE };
      });
      build.onLoad({ filter: /.*/, namespace: SHIM_NAMESPACE }, (args) => ({
        contents: args.path === 'fs' ? fsShim : moduleShim,
        resolveDir: root,
        loader: 'js',
      }));
      build.onLoad({ filter: /\.js$/ }, (args) => {
        if (!isWorkspaceSource(args.path)) return undefined;
        const source = readFileSync(args.path, 'utf8');
        const url = JSON.stringify(`file://${virtualPath(args.path)}`);
        return { contents: source.replace(/\bimport\.meta\.url\b/g, url), loader: 'js' };
      });
    },
  };
}

/**
 * Bundles one program into `outfile` (CommonJS, Node 20, with the bin's #! line) and
 * returns esbuild's metafile. Source maps are left out: the executables and
 * the npm package carry only the code.
 */
export async function bundleProgram(root, name, outfile) {
  const program = PROGRAMS[name];
  if (program === undefined) throw new Error(`expected one of ${Object.keys(PROGRAMS).join(', ')}, got ${name}`);
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [path.join(root, program.entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Dependencies' own import.meta.url (ESM packages such as yargs): the
    // file that runs, which is the executable itself in a single executable.
    define: { 'import.meta.url': '__pushprox_bundle_url' },
    banner: {
      // After the bin's own #! line, which esbuild keeps first.
      js: `"use strict";\nvar __pushprox_bundle_url = require("node:url").pathToFileURL(__filename).href;`,
    },
    legalComments: 'none',
    // Without comments and indentation the script is a third smaller and ASCII
    // only (esbuild escapes non-ASCII in code; comments kept verbatim had some):
    // V8 holds a script's whole source in the heap for as long as the program
    // runs, as two bytes per character if a single one is outside Latin-1.
    // Measured on the single executable: idle private memory 22.7 -> 14.8 MB.
    minifyWhitespace: true,
    logLevel: 'warning',
    metafile: true,
    plugins: [bundleShimsPlugin(root, program), asciiStringWidthPlugin()],
  });
  const nonAscii = /[^\x00-\x7f]/.exec(readFileSync(outfile, 'latin1'));
  if (nonAscii) throw new Error(`${name}: expected an ASCII-only bundle (see minifyWhitespace), got byte 0x${nonAscii[0].charCodeAt(0).toString(16)} at ${nonAscii.index}`);
  return result.metafile;
}
