// A printable-ASCII fast path in front of every copy of string-width in the
// bundles (yargs lays out --help and usage errors with it, through cliui and
// wrap-ansi). string-width answers the display width of any Unicode text: it
// segments graphemes with Intl.Segmenter and tests Unicode-property regular
// expressions, and evaluating it builds those (an ICU segmenter and the
// RGI_Emoji set) at load. All of that, on every start and for every cell of
// the help text, measured 20 ms of each client start and about 50 ms of
// `--help` in a --cpu-prof of the single executable.
//
// Invariant: for a string of printable ASCII (U+0020-U+007E only) every copy
// answers its length: each character is its own grapheme, visible, narrow
// and not an emoji (e2e/test/bundle-string-width.test.ts checks each copy in
// node_modules, character by character). Any other string, or any other
// argument, goes to the real module, loaded on its first such use, with the
// caller's options.

const NAMESPACE = 'pushprox-string-width';

/** The stand-in module's source, in front of the string-width at `realPath`. */
export function standInSource(realPath) {
  return `
const PRINTABLE_ASCII = /^[\\x20-\\x7e]*$/;
let real;
export default function stringWidth(string, options) {
  if (typeof string === 'string' && PRINTABLE_ASCII.test(string)) return string.length;
  real ??= require(${JSON.stringify(realPath)}).default;
  return real(string, options);
}
`;
}

/** esbuild plugin: every import of `string-width` gets the stand-in, in front of the copy that import would have resolved to. */
export function asciiStringWidthPlugin() {
  return {
    name: 'pushprox-ascii-string-width',
    setup(build) {
      const copies = new Map();
      build.onResolve({ filter: /^string-width$/ }, async (args) => {
        if (args.pluginData?.real) return undefined;
        const real = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { real: true } });
        if (real.errors.length > 0) return { errors: real.errors };
        // One stand-in per real copy. Its name holds no node_modules path: the
        // metafile's inputs name npm packages by those (copyright.mjs); the real
        // copy, which the stand-in requires, is an input of its own.
        if (!copies.has(real.path)) copies.set(real.path, `string-width-${copies.size + 1}`);
        return { path: copies.get(real.path), namespace: NAMESPACE, pluginData: { realPath: real.path } };
      });
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({ contents: standInSource(args.pluginData.realPath), loader: 'js', resolveDir: '/' }));
    },
  };
}
