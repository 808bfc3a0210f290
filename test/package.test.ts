/**
 * The package as a user gets it: packed by npm, unpacked into a project outside this checkout
 * whose node_modules holds only what the tarball's package.json declares (linked from this
 * checkout's node_modules, so the test runs offline and sees no devDependency: no ioredis, no
 * @types/ws), then imported, required and type-checked there the way users do.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');
const fixtures = join(root, 'test', 'package', 'consumer');
/** What the type fixtures use besides the package, as a user of /fastify or /express has installed it. */
const FIXTURE_PACKAGES = ['@types/node', 'fastify', 'pino', 'express', '@types/express'];

let project: string;
let installed: string;
let manifest: { exports: Record<string, unknown>; dependencies: Record<string, string> };
/** tsc's errors on the fixtures (test/package/consumer) and the declaration files they read. */
let errors: string[];

/** Newest modification time under a directory, in ms. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

function link(name: string): void {
  const target = join(project, 'node_modules', name);
  mkdirSync(dirname(target), { recursive: true });
  symlinkSync(join(root, 'node_modules', name), target, 'dir');
}

async function node(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd: project });
  return stdout;
}

beforeAll(async () => {
  // `npm pack` would run `prepare` (a full build, ~15 s): build only when src/ changed since.
  const built = join(root, 'dist', 'index.js');
  if (!existsSync(built) || newest(join(root, 'src')) > statSync(built).mtimeMs) {
    await run('npm', ['run', 'build', '--silent'], { cwd: root });
  }
  project = mkdtempSync(join(tmpdir(), 'wa-transport-consumer-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', project], {
    cwd: root,
  });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  installed = join(project, 'node_modules', 'wa-transport');
  mkdirSync(installed, { recursive: true });
  await run('tar', ['-xzf', join(project, filename), '-C', installed, '--strip-components=1']);
  manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as typeof manifest;
  for (const name of new Set([...Object.keys(manifest.dependencies), ...FIXTURE_PACKAGES])) link(name);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));

  // A user's strict project that checks every declaration file it reads (skipLibCheck: false).
  mkdirSync(join(project, 'src'));
  for (const file of readdirSync(fixtures)) {
    writeFileSync(join(project, 'src', file), readFileSync(join(fixtures, file)));
  }
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ['node'],
      },
      include: ['src'],
    }),
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const output = await run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: project }).then(
    (r) => r.stdout,
    (error: { stdout: string }) => error.stdout,
  );
  errors = output.split('\n').filter((line) => /error TS\d+/.test(line));
}, 120_000);

afterAll(() => {
  if (project !== undefined) rmSync(project, { recursive: true, force: true });
});

describe('the packed package', () => {
  const entries = (): string[] =>
    Object.keys(manifest.exports)
      .filter((key) => key !== './package.json')
      .map((key) => `wa-transport${key.slice(1)}`);

  it('imports every entry point, and require() gives the same modules (require(esm))', async () => {
    const names = `const names = {}; for (const e of ${JSON.stringify(entries())}) names[e] = Object.keys(await load(e)).sort();`;
    const imported = await node([
      '--input-type=module',
      '-e',
      `const load = (e) => import(e); ${names} console.log(JSON.stringify(names));`,
    ]);
    const required = await node([
      '--input-type=commonjs',
      '-e',
      `(async () => { const load = (e) => require(e); ${names} console.log(JSON.stringify(names)); })();`,
    ]);
    expect(JSON.parse(required)).toEqual(JSON.parse(imported));
    expect(Object.keys(JSON.parse(imported) as object)).toContain('wa-transport/redis');
  });

  it('loads every entry point without ioredis installed; the Redis store asks for it by name', async () => {
    expect(existsSync(join(project, 'node_modules', 'ioredis'))).toBe(false);
    const out = await node([
      '--input-type=module',
      '-e',
      `const { createRedisReplayStore } = await import('wa-transport/redis');
       const error = await createRedisReplayStore().then(() => undefined, (e) => e);
       console.log(JSON.stringify({ name: error?.name, code: error?.code, message: error?.message }));`,
    ]);
    const error = JSON.parse(out) as { name: string; code: string; message: string };
    expect(error.name).toBe('WaTransportError');
    expect(error.code).toBe('ERR_WA_CONFIG');
    expect(error.message).toContain('npm install ioredis');
  });

  it('ships every source file its source maps and declaration maps name', () => {
    const missing: string[] = [];
    let maps = 0;
    for (const entry of readdirSync(join(installed, 'dist'), { withFileTypes: true, recursive: true })) {
      if (!entry.name.endsWith('.map')) continue;
      maps++;
      const map = JSON.parse(readFileSync(join(entry.parentPath, entry.name), 'utf8')) as { sources: string[] };
      for (const source of map.sources) {
        const file = resolve(entry.parentPath, source);
        if (!existsSync(file)) missing.push(relative(installed, file));
      }
    }
    expect(maps).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  it('type-checks every entry point with skipLibCheck off, without @types/ws or ioredis', () => {
    expect(errors).toEqual([]);
  });

  it('accepts a Fastify instance created with its own pino logger', () => {
    expect(errors.filter((line) => line.includes('fastify'))).toEqual([]);
  });

  it('accepts the store replayStoreFromConfig returns in new Metrics({ replayStore })', () => {
    expect(errors.filter((line) => line.includes('metrics'))).toEqual([]);
  });

  it('types wa-transport/ws without @types/ws', () => {
    expect(errors.filter((line) => /\bws\b|ws-/.test(line))).toEqual([]);
  });
});
