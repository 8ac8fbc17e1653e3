// The Debian package: both executables in /usr/bin, the systemd units and
// /etc/default files of examples/systemd, a pushprox system user, built with
// dpkg-deb (root-owned files without fakeroot).
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { copyrightText } from './copyright.mjs';
import { run } from './sea.mjs';

export const DEB_PACKAGE = 'pushprox-ts';
/** xz -6 (dpkg's default): 45 MB for 180 MB of executables, in a minute or more on 2 cores. */
export const RELEASE_DEB_COMPRESSION = Object.freeze(['-Zxz', '-z6']);
/**
 * gzip -1, `--fast` (the release test): 70 MB in 2 s. Not zstd, which is
 * faster still: lintian refuses a data.tar.zst (malformed-deb-archive).
 */
export const FAST_DEB_COMPRESSION = Object.freeze(['-Zgzip', '-z1']);
const PROGRAMS = ['pushprox-proxy', 'pushprox-client'];
const CONFFILES = PROGRAMS.map((p) => `/etc/default/${p}`);

/**
 * Replaces `pattern` in `text`, failing the build when it does not occur: the
 * examples are written for a git checkout, and a rewording there must not
 * silently leave a checkout path in the package.
 */
function replaceOrFail(text, pattern, replacement, file) {
  if (!pattern.test(text)) throw new Error(`${file}: expected to find ${pattern}, found none`);
  return text.replace(pattern, replacement);
}

/** An example unit or defaults file, with the executable in /usr/bin and the package's install steps. */
function packagedExample(root, file) {
  let text = readFileSync(path.join(root, 'examples/systemd', file), 'utf8');
  text = replaceOrFail(text, /\/usr\/bin\/node \/opt\/pushprox\/packages\/\w+\/bin\/(pushprox-\w+)\.js/g, '/usr/bin/$1', file);
  if (file.endsWith('.service')) {
    const program = file.replace(/\.service$/, '');
    // The checkout's install steps (the "# Install (" paragraph and its indented commands) become the package's.
    text = replaceOrFail(
      text,
      /^# Install \(.*\n(?:#(?! {3}).*\n)*(?:# {3}.*\n)+/m,
      `# Installed by the ${DEB_PACKAGE} package, neither enabled nor started:\n` +
        `#   sudoedit /etc/default/${program}\n` +
        `#   sudo systemctl enable --now ${program}\n`,
      file,
    );
    // A static user of that name exists (postinst), so systemd runs the
    // service as it instead of allocating a dynamic one; the sandboxing that
    // DynamicUser implies stays.
    text = replaceOrFail(text, /^DynamicUser=yes$/m, 'DynamicUser=yes\nUser=pushprox\nGroup=pushprox', file);
    // A comment that holds for a dynamic user only; left as is if reworded.
    text = text.replace(
      '# TLS: the service runs as a dynamic user, which cannot own a private key.',
      '# TLS: the sandbox below (ProtectSystem=strict, ProtectHome) hides most files.',
    );
  }
  return text;
}

function md5sums(stage) {
  const lines = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (!full.startsWith(path.join(stage, 'DEBIAN'))) {
        lines.push(`${createHash('md5').update(readFileSync(full)).digest('hex')}  ${path.relative(stage, full)}`);
      }
    }
  };
  walk(stage);
  return lines.join('\n') + '\n';
}

function duKiB(dir) {
  let bytes = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else bytes += statSync(full).size;
    }
  };
  walk(dir);
  return Math.ceil(bytes / 1024);
}

/** The shared-library dependencies of linux-x64 executables, as dpkg-shlibdeps computes them. */
export function shlibsDepends(workDir, executables) {
  const dir = path.join(workDir, 'shlibdeps');
  mkdirSync(path.join(dir, 'debian'), { recursive: true });
  writeFileSync(path.join(dir, 'debian/control'), `Source: ${DEB_PACKAGE}\n\nPackage: ${DEB_PACKAGE}\nArchitecture: amd64\n`);
  const out = run('dpkg-shlibdeps', ['-O', ...executables], { cwd: dir });
  const m = /^shlibs:Depends=(.+)$/m.exec(out);
  if (!m) throw new Error(`dpkg-shlibdeps: expected a shlibs:Depends line, got ${JSON.stringify(out)}`);
  return m[1].trim();
}

/** The libraries an ELF file needs (the dynamic loader aside, whose name is per architecture) and the symbol versions it asks of them (readelf reads any architecture). */
function libraryNeeds(file) {
  const needed = [...run('readelf', ['-d', '--wide', file]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)]
    .map((m) => m[1])
    .filter((lib) => !lib.startsWith('ld-linux'))
    .sort();
  const versions = new Set([...run('readelf', ['-V', '--wide', file]).matchAll(/Name: (GLIBC\w*_[\d.]+)/g)].map((m) => m[1]));
  return { needed, versions };
}

/**
 * The Depends of executables for another architecture, which
 * dpkg-shlibdeps cannot compute without that architecture's libraries
 * installed: the linux-x64 executables' Depends (Debian's library packages
 * have the same names on every architecture), provided each executable needs
 * the same libraries as its linux-x64 counterpart and no symbol version that
 * the counterpart does not need. Otherwise the build fails and says what differs.
 */
export function crossDepends(referenceDepends, pairs) {
  for (const [reference, other] of pairs) {
    const want = libraryNeeds(reference);
    const got = libraryNeeds(other);
    if (want.needed.join() !== got.needed.join()) throw new Error(`${other}: expected the libraries of ${reference} (${want.needed.join(', ')}), got ${got.needed.join(', ')}`);
    const extra = [...got.versions].filter((v) => !want.versions.has(v));
    if (extra.length > 0) throw new Error(`${other}: needs symbol versions that ${reference} does not (${extra.join(', ')}); its Depends cannot be derived from linux-x64's`);
  }
  return referenceDepends;
}

/**
 * Builds `<outDir>/pushprox-ts_<version>_<arch>.deb` from the executables
 * (program name to file) and returns its path. `arch`: the Debian
 * architecture; `depends`: the executables' library dependencies
 * (shlibsDepends, crossDepends). `bundled` lists the npm packages inside the
 * executables, for the copyright file. `compression`: dpkg-deb's -Z and -z
 * options, default RELEASE_DEB_COMPRESSION.
 */
export function buildDeb({ root, version, arch, depends, executables, outDir, workDir, bundled, compression = RELEASE_DEB_COMPRESSION }) {
  const here = path.join(root, 'scripts/release/debian');
  const changelog = readFileSync(path.join(here, 'changelog'), 'utf8');
  const top = /^pushprox-ts \(([^)]+)\)/.exec(changelog)?.[1];
  if (top !== version) throw new Error(`scripts/release/debian/changelog: expected a first entry for ${version}, got ${top}`);

  const stage = path.join(workDir, `deb-${arch}`);
  rmSync(stage, { recursive: true, force: true });
  const dirs = ['DEBIAN', 'usr/bin', 'lib/systemd/system', 'etc/default', `usr/share/doc/${DEB_PACKAGE}`, 'usr/share/lintian/overrides'];
  for (const d of dirs) mkdirSync(path.join(stage, d), { recursive: true, mode: 0o755 });

  for (const program of PROGRAMS) {
    const dest = path.join(stage, 'usr/bin', program);
    copyFileSync(executables[program], dest);
    chmodSync(dest, 0o755);
    writeFileSync(path.join(stage, 'lib/systemd/system', `${program}.service`), packagedExample(root, `${program}.service`), { mode: 0o644 });
    writeFileSync(path.join(stage, 'etc/default', program), packagedExample(root, `${program}.default`), { mode: 0o644 });
  }
  const doc = path.join(stage, 'usr/share/doc', DEB_PACKAGE);
  writeFileSync(path.join(doc, 'copyright'), copyrightText({ root, bundled }), { mode: 0o644 });
  // A native package: changelog.gz, compressed with gzip -9n (no name, no time stamp).
  writeFileSync(path.join(doc, 'changelog.gz'), gzipSync(changelog, { level: 9 }), { mode: 0o644 });
  copyFileSync(path.join(here, 'lintian-overrides'), path.join(stage, 'usr/share/lintian/overrides', DEB_PACKAGE));
  chmodSync(path.join(stage, 'usr/share/lintian/overrides', DEB_PACKAGE), 0o644);

  const control = readFileSync(path.join(here, 'control.in'), 'utf8')
    .replace('@VERSION@', version)
    .replace('@INSTALLED_SIZE@', String(duKiB(stage)))
    .replace('@ARCH@', arch)
    .replace('@SHLIBS@', depends);
  writeFileSync(path.join(stage, 'DEBIAN/control'), control, { mode: 0o644 });
  writeFileSync(path.join(stage, 'DEBIAN/conffiles'), CONFFILES.join('\n') + '\n', { mode: 0o644 });
  writeFileSync(path.join(stage, 'DEBIAN/md5sums'), md5sums(stage), { mode: 0o644 });
  for (const script of ['postinst', 'prerm', 'postrm']) {
    copyFileSync(path.join(here, script), path.join(stage, 'DEBIAN', script));
    chmodSync(path.join(stage, 'DEBIAN', script), 0o755);
  }

  const deb = path.join(outDir, `${DEB_PACKAGE}_${version}_${arch}.deb`);
  run('dpkg-deb', ['--root-owner-group', ...compression, '--build', stage, deb]);
  rmSync(stage, { recursive: true, force: true });
  return deb;
}
