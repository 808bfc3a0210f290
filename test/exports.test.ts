/**
 * The public surface, name by name: every subpath in package.json's `exports` and exactly what
 * it exports, values (what `import()` returns) and types (what TypeScript sees, minus the
 * values). A name added or removed fails here, so the surface grows only on purpose.
 *
 * And what each entry loads: the root must load no transport, operations or Redis code, and
 * `/protocol` no transport, so a tool that reads headers or a process that only seals does
 * not pay for ws, undici, ioredis or node:tls. Checked in a fresh process per entry, from the
 * modules Node actually loaded, with the transports as controls that the check sees a load.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  exports: Record<string, string | { source: string }>;
};
/** Subpath ('.', './http', …) → its source file. */
const entries = new Map(
  Object.entries(manifest.exports)
    .filter((entry): entry is [string, { source: string }] => typeof entry[1] === 'object')
    .map(([subpath, conditions]) => [subpath, fileURLToPath(new URL(conditions.source, root))]),
);

const SURFACE: Record<string, { values: string[]; types: string[] }> = {
  '.': {
    values: [
      'ErrorCode',
      'MemoryReplayStore',
      'TieredReplayStore',
      'WaTransportError',
      'createEndpoint',
      'fromText',
      'generateSecret',
      'isWaTransportError',
      'toText',
    ],
    types: [
      'BackendPreference',
      'Clock',
      'Endpoint',
      'EndpointLike',
      'EndpointObserver',
      'EndpointOptions',
      'Logger',
      'MemoryReplayStoreOptions',
      'MemoryReplayStoreStats',
      'OpenOptions',
      'Opened',
      'OpenedEvent',
      'RejectedEvent',
      'ReplayStore',
      'Role',
      'SealOptions',
      'TieredReplayStoreOptions',
      'UnavailablePolicy',
    ],
  },
  './ops': {
    values: [
      'ClockHealth',
      'Metrics',
      'RotatingEndpoint',
      'combineObservers',
      'endpointOptionsFromConfig',
      'loadConfig',
      'replayStoreFromConfig',
    ],
    types: [
      'ClockHealthOptions',
      'ClockHealthReport',
      'DbSslOptions',
      'Env',
      'LoadConfigOptions',
      'MetricsOptions',
      'MetricsSnapshot',
      'PrometheusOptions',
      'RejectionAlertOptions',
      'RejectionSpike',
      'ReplayCacheStats',
      'RotationUpdate',
      'WaConfig',
      'WaConfigSummary',
    ],
  },
  './protocol': {
    values: [
      'DEFAULT_MAX_SKEW_MS',
      'DEFAULT_WINDOW_MS',
      'Direction',
      'ENVELOPE_CONTENT_TYPE',
      'ENVELOPE_HEADER',
      'HEADER_BYTES',
      'HELLO_HEADER',
      'MAX_DEPTH',
      'MIN_ENVELOPE_BYTES',
      'MIN_SECRET_BYTES',
      'PayloadFormat',
      'REJECTION_HEADER',
      'REJECTION_STATUS',
      'REQUEST_ID_HEADER',
      'TAG_BYTES',
      'WsCloseCode',
      'frameContext',
      'helloContext',
      'helloRefusalContext',
      'readHeader',
      'rejectionContext',
      'requestContext',
      'responseContext',
      'welcomeContext',
    ],
    types: ['EnvelopeHeader', 'FrameDirection'],
  },
  './http': {
    values: ['HttpClient', 'HttpStatusError', 'SealedReply', 'sealedHandler', 'sealedReply'],
    types: [
      'HttpClientOptions',
      'HttpRequestOptions',
      'HttpResponse',
      'RetryOptions',
      'SealedHandler',
      'SealedRequest',
      'SealedServerOptions',
    ],
  },
  './express': { values: ['sealedExpress'], types: [] },
  './fastify': { values: ['acceptSealedBodies', 'sealedFastify'], types: [] },
  './fetch': { values: ['sealedFetchHandler'], types: [] },
  './ws': {
    values: ['WsClient', 'WsServer'],
    types: [
      'WsChannel',
      'WsChannelError',
      'WsChannelErrorCode',
      'WsClientCloseEvent',
      'WsClientOptions',
      'WsCloseEvent',
      'WsReconnectOptions',
      'WsServerOptions',
    ],
  },
  './tls': {
    values: ['SecurityLevel', 'clientTlsOptions', 'serverTlsOptions'],
    types: ['ClientTlsOptions', 'ServerTlsOptions'],
  },
  './redis': {
    values: ['createRedisReplayStore'],
    types: ['RedisClusterReplayStore', 'RedisReplayStore', 'RedisReplayStoreOptions', 'RedisReplayStoreStats'],
  },
};

/** Every name each entry exports, values and types, as the compiler resolves them. */
function compiledNames(): Map<string, string[]> {
  const program = ts.createProgram([...entries.values()], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    customConditions: ['source'],
    types: ['node'],
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const names = new Map<string, string[]>();
  for (const [subpath, file] of entries) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
    names.set(
      subpath,
      checker.getExportsOfModule(module).map((symbol) => symbol.getName()),
    );
  }
  return names;
}

describe('the public surface', () => {
  it('lists every subpath of package.json', () => {
    expect([...entries.keys()].sort()).toEqual(Object.keys(SURFACE).sort());
  });

  it.each(Object.keys(SURFACE))('%s exports exactly its values', async (subpath) => {
    const module = (await import(entries.get(subpath)!)) as Record<string, unknown>;
    expect(Object.keys(module).sort()).toEqual(SURFACE[subpath]!.values);
  });

  it('exports exactly its types', () => {
    const compiled = compiledNames();
    for (const [subpath, { values, types }] of Object.entries(SURFACE)) {
      const typeOnly = compiled
        .get(subpath)!
        .filter((name) => !values.includes(name))
        .sort();
      expect({ subpath, types: typeOnly }).toEqual({ subpath, types });
    }
  });
});

/**
 * Our own modules an entry loads when imported: its static, runtime imports, followed through
 * src/ (`import type` and `export type` load nothing; a dynamic `import()` loads only when run).
 */
function staticClosure(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
    for (const statement of source.statements) {
      let specifier: ts.Expression | undefined;
      if (ts.isImportDeclaration(statement) && statement.importClause?.isTypeOnly !== true)
        specifier = statement.moduleSpecifier;
      if (ts.isExportDeclaration(statement) && !statement.isTypeOnly) specifier = statement.moduleSpecifier;
      if (specifier === undefined || !ts.isStringLiteral(specifier)) continue;
      const name = specifier.text;
      if (name.startsWith('.')) visit(resolve(dirname(file), name.replace(/\.js$/, '.ts')));
      else packages.add(name);
    }
  };
  visit(entry);
  const src = fileURLToPath(new URL('src/', root));
  return { files: [...files].map((file) => relative(src, file)).sort(), packages: [...packages].sort() };
}

const run = promisify(execFile);

/** npm packages (CommonJS, so in require.cache) and node: built-ins a fresh process loads for `specifier`. */
async function loadedBy(specifier: string): Promise<{ packages: string[]; builtins: string[] }> {
  const probe = `
    import { createRequire } from 'node:module';
    const require = createRequire(process.cwd() + '/');
    const before = new Set(process.moduleLoadList);
    await import(${JSON.stringify(specifier)});
    const packages = Object.keys(require.cache).map((p) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(p)?.[1]);
    const builtins = process.moduleLoadList.filter((m) => !before.has(m) && m.startsWith('NativeModule '));
    console.log(JSON.stringify({
      packages: [...new Set(packages.filter(Boolean))],
      builtins: builtins.map((m) => m.slice('NativeModule '.length)),
    }));`;
  const { stdout } = await run(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', '--input-type=module', '--eval', probe],
    { cwd: fileURLToPath(root) },
  );
  return JSON.parse(stdout) as { packages: string[]; builtins: string[] };
}

const TRANSPORT_PACKAGES = ['ws', 'undici', 'ioredis'];
const NETWORK_BUILTINS = ['net', 'tls', 'http', 'https', 'http2'];

describe('what an entry loads', () => {
  it('the root imports, through src/, no transport, operations or Redis module', () => {
    const { files, packages } = staticClosure(entries.get('.')!);
    expect(files.filter((file) => /^(transport|ops)\/|redis/.test(file))).toEqual([]);
    expect(packages.filter((name) => !name.startsWith('node:'))).toEqual(['libsodium-wrappers', 'msgpackr']);
  });

  it('/protocol imports, through src/, no transport implementation', () => {
    const { files } = staticClosure(entries.get('./protocol')!);
    expect(files.filter((file) => file.startsWith('transport/'))).toEqual([
      'transport/http-binding.ts',
      'transport/ws-protocol.ts',
    ]);
  });

  // /fetch too: a web-standard handler runs where there is no node:http (Deno, Bun, workers).
  it.each(['wa-transport', 'wa-transport/protocol', 'wa-transport/fetch'])(
    '%s loads no transport, no Redis client and no network module',
    async (specifier) => {
      const { packages, builtins } = await loadedBy(specifier);
      expect(packages.filter((name) => TRANSPORT_PACKAGES.includes(name))).toEqual([]);
      expect(builtins.filter((name) => NETWORK_BUILTINS.includes(name))).toEqual([]);
    },
  );

  it('wa-transport/ops loads no transport and no Redis client until a Redis URL is configured', async () => {
    const { packages } = await loadedBy('wa-transport/ops');
    expect(packages.filter((name) => TRANSPORT_PACKAGES.includes(name))).toEqual([]);
  });

  it.each([
    ['wa-transport/http', 'undici'],
    ['wa-transport/ws', 'ws'],
  ])('%s loads %s (the check sees a load)', async (specifier, name) => {
    const { packages, builtins } = await loadedBy(specifier);
    expect(packages).toContain(name);
    expect(builtins).toContain('tls');
  });

  it('wa-transport/redis loads ioredis only when a store is made (an optional peer)', async () => {
    const { packages } = await loadedBy('wa-transport/redis');
    expect(packages).not.toContain('ioredis');
  });
});
