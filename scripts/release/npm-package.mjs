// The npm package `pushprox-ts`: both programs as the esbuild bundles, so it
// has no runtime dependencies. The workspace packages stay private.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { run } from './sea.mjs';

export const NPM_PACKAGE = 'pushprox-ts';

/**
 * Packs `<outDir>/pushprox-ts-<version>.tgz` from the bundles (program name
 * to file) and returns its path. `bundled` lists the npm packages inside.
 */
export function buildNpmPackage({ root, version, bundles, outDir, workDir, bundled }) {
  const rootPkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const stage = path.join(workDir, 'npm');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(path.join(stage, 'bin'), { recursive: true });
  const bin = {};
  for (const [program, file] of Object.entries(bundles)) {
    const dest = path.join(stage, 'bin', `${program}.cjs`);
    const text = readFileSync(file, 'utf8');
    if (!text.startsWith('#!/usr/bin/env node\n')) throw new Error(`${file}: expected a bundle starting with #!/usr/bin/env node, got ${JSON.stringify(text.slice(0, 40))}`);
    writeFileSync(dest, text, { mode: 0o755 });
    chmodSync(dest, 0o755);
    bin[program] = `bin/${program}.cjs`;
  }
  const pkg = {
    name: NPM_PACKAGE,
    version,
    description: rootPkg.description,
    license: rootPkg.license,
    bin,
    files: ['bin', 'THIRD-PARTY.md'],
    engines: rootPkg.engines,
    keywords: ['prometheus', 'pushprox', 'nat', 'proxy'],
  };
  writeFileSync(path.join(stage, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  writeFileSync(
    path.join(stage, 'README.md'),
    `# ${NPM_PACKAGE}\n\n${rootPkg.description}.\n\n` +
      '    npm install -g pushprox-ts\n    pushprox-proxy --help\n    pushprox-client --help\n\n' +
      `Both programs are single-file bundles: the package has no dependencies. Node.js ${rootPkg.engines.node}.\n\n` +
      'Without --web.config.file the proxy has no authentication; it listens on :8080 (every interface) unless --web.listen-address says otherwise.\n',
  );
  writeFileSync(
    path.join(stage, 'THIRD-PARTY.md'),
    '# Bundled npm packages\n\n' + bundled.map((p) => `- ${p.name} ${p.version} (${p.license})`).join('\n') + '\n',
  );
  const out = run('npm', ['pack', '--json', '--pack-destination', outDir], { cwd: stage });
  const [{ filename }] = JSON.parse(out);
  rmSync(stage, { recursive: true, force: true });
  return path.join(outDir, filename);
}
