import Module, { createRequire } from 'node:module';

/**
 * prom-client's process CPU metrics `require('@opentelemetry/api')` as they
 * load, for exemplars, which the client never enables: measured alone, that
 * module costs a start about 20 ms and 2.5 MB of private memory
 * (`npm run bench -- --only=footprint`, the breakdown). This puts a stand-in
 * for it in the CommonJS module cache, before prom-client loads: the first
 * property read through it loads the real module and every read is answered
 * by the real module from then on, so anything that does use the API gets
 * the real one, only later.
 *
 * Only the client's entry point calls it (the bin imports this module right
 * after v8-flags.ts). Where @opentelemetry/api cannot be resolved from
 * prom-client (the single executable, which bundles both) or is already
 * loaded, it does nothing and says so.
 */
export function deferOpenTelemetry(from: string = import.meta.url): boolean {
  let id: string;
  let require: NodeJS.Require;
  try {
    require = createRequire(createRequire(from).resolve('prom-client'));
    id = require.resolve('@opentelemetry/api');
  } catch {
    return false;
  }
  if (require.cache[id] !== undefined) return false;
  let real: object | undefined;
  const load = (): object => {
    if (real === undefined) {
      delete require.cache[id];
      real = require(id) as object;
    }
    return real;
  };
  const stand = new Proxy(
    {},
    {
      get: (_, key) => Reflect.get(load(), key),
      has: (_, key) => Reflect.has(load(), key),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, key) => {
        const d = Reflect.getOwnPropertyDescriptor(load(), key);
        // A proxy may not report a property as non-configurable that its (empty) target lacks.
        return d && { ...d, configurable: true };
      },
    },
  );
  const m = new Module(id);
  m.filename = id;
  m.loaded = true;
  m.exports = stand;
  require.cache[id] = m;
  return true;
}

deferOpenTelemetry();
