/**
 * The docs' examples run. Every ```ts block of README.md and docs/*.md preceded by
 * `<!-- example: runs … -->` is written inside the package and imported in this process, in the
 * order of its page (vitest.config.ts resolves `wa-transport/…` to this checkout's sources, as
 * `--conditions=source` does for node); a comment after a `console.log` states what it prints,
 * and is held to it. The blocks of one page share an environment, so README's CoreApp (listening
 * on PORT) answers README's WebApp (calling COREAPP_URL); what they leave running is stopped the
 * way a service is, by their SIGTERM listeners. One block marked `runs as its own process` is
 * also spawned as a user runs it, the one check of the package's name and exports from outside.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { format, promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateSecret } from '../src/keys.js';
import { sharedRedisUrl } from './redis/shared.js';

const run = promisify(execFile);
const root = new URL('../', import.meta.url);
const scratch = new URL('test/.doc-examples/', root);

interface Example {
  readonly name: string;
  readonly code: string;
  readonly file: URL;
  readonly spawn: boolean;
  readonly needsRedis: boolean;
}

const BLOCK = /(<!-- example: runs([^>]*)-->\n)?```ts\n([\s\S]*?)```/g;

function examplesOf(page: string): { examples: Example[]; unmarked: number } {
  const text = readFileSync(new URL(page, root), 'utf8');
  const examples: Example[] = [];
  let unmarked = 0;
  for (const m of text.matchAll(BLOCK)) {
    if (m[1] === undefined) {
      unmarked++;
      continue;
    }
    const code = m[3]!;
    const i = examples.length;
    const line = text.slice(0, m.index).split('\n').length + 1;
    const first = code.split('\n').find((l) => l.startsWith('//') || l.includes('import')) ?? '';
    examples.push({
      name: `${page}:${line} ${first.slice(0, 60)}`,
      code,
      file: new URL(`${page.replace(/\W/g, '-')}-${i}.ts`, scratch),
      spawn: m[2]!.includes('runs as its own process'),
      needsRedis: m[2]!.includes('Redis'),
    });
  }
  return { examples, unmarked };
}

/** A comment after a console.log states what it prints. */
function claims(code: string): string[] {
  return [...code.matchAll(/console\.log\(.*\);?\s*\/\/\s*(.+)$/gm)].map((m) => m[1]!.trim());
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const pages = [
  'README.md',
  ...readdirSync(new URL('docs/', root))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const all = pages.map((page) => ({ page, ...examplesOf(page) }));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

it('README has only runnable TypeScript examples, and the docs have some', () => {
  const readme = all.find((p) => p.page === 'README.md')!;
  expect(readme.unmarked).toBe(0);
  expect(readme.examples.length).toBeGreaterThanOrEqual(3);
  expect(all.filter((p) => p.page.startsWith('docs/') && p.examples.length > 0).length).toBeGreaterThanOrEqual(5);
  expect(all.flatMap((p) => p.examples).filter((e) => e.spawn)).toHaveLength(1);
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

const prose = (page: URL): string => readFileSync(page, 'utf8').replace(/```[\s\S]*?```/g, '');

// The pages link to each other and to PROTOCOL's tables instead of copying them: hold every
// relative link, and its heading, to the page it names.
it.each(pages)('%s: every relative link resolves, heading included', (page) => {
  const from = new URL(page, root);
  const broken: string[] = [];
  for (const [, href] of prose(from).matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/.test(href!)) continue;
    const [file, heading] = href!.split('#');
    const target = file ? new URL(file, from) : from;
    if (!existsSync(target)) broken.push(href!);
    else if (heading && target.pathname.endsWith('.md')) {
      const headings = [...prose(target).matchAll(/^#+\s+(.*)$/gm)].map((m) => slug(m[1]!));
      if (!headings.includes(heading)) broken.push(href!);
    }
  }
  expect(broken).toEqual([]);
});

// One table per fact: copies drift (the README once held four tables of statuses and codes).
it.each([
  { table: 'errors, statuses and close codes', row: /^\|\s*(`ERR_WA_|4001\s*\|)/m, home: 'docs/PROTOCOL.md' },
  { table: 'environment variables', row: /^\|\s*`WA_SECRET`\s*\|/m, home: 'docs/operations.md' },
  { table: 'dependencies', row: /^\|\s*`libsodium-wrappers`\s*\|/m, home: 'docs/api.md' },
  { table: 'log events', row: /^\|\s*`wa_transport\.replay_store\.hold`\s*\|/m, home: 'docs/logging.md' },
])('the table of $table is only in $home', ({ row, home }) => {
  const holders = pages.filter((page) => row.test(prose(new URL(page, root))));
  expect(holders).toEqual([home]);
});

for (const { page, examples } of all.filter((p) => p.examples.length > 0)) {
  describe(page, () => {
    const saved = { ...process.env };
    let before = new Set<NodeJS.SignalsListener>();

    beforeAll(async () => {
      before = new Set(process.listeners('SIGTERM'));
      mkdirSync(scratch, { recursive: true });
      const port = await freePort();
      process.env['WA_SECRET'] = generateSecret();
      process.env['PORT'] = String(port);
      process.env['COREAPP_URL'] = `http://127.0.0.1:${port}`;
      // The Redis examples read WA_REPLAY_REDIS_URL: the run's own server, never the machine's.
      if (examples.some((e) => e.needsRedis)) process.env['WA_REPLAY_REDIS_URL'] = await sharedRedisUrl();
    });

    afterAll(async () => {
      for (const listener of process.listeners('SIGTERM')) {
        if (before.has(listener)) continue;
        process.removeListener('SIGTERM', listener);
        await listener('SIGTERM');
      }
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    });

    for (const example of examples) {
      it(example.name, async () => {
        writeFileSync(example.file, example.code);
        const printed: string[] = [];
        const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
          printed.push(format(...args));
        });
        try {
          await import(/* @vite-ignore */ example.file.href);
        } finally {
          log.mockRestore();
        }
        const output = printed.join('\n');
        for (const claim of claims(example.code)) expect(output).toContain(claim);
      });

      if (example.spawn) {
        it(`${example.name} (as its own process)`, async () => {
          const file = new URL(example.file.href.replace(/\.ts$/, '.spawned.mts'));
          writeFileSync(file, example.code);
          const env = { ...process.env };
          delete env['WA_SECRET'];
          const { stdout } = await run(process.execPath, ['--conditions=source', '--import', 'tsx', file.pathname], {
            cwd: root.pathname,
            timeout: 60_000,
            env,
          });
          for (const claim of claims(example.code)) expect(stdout).toContain(claim);
        });
      }
    }
  });
}
