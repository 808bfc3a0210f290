/**
 * The README's examples run: every ```ts block preceded by `<!-- example: runs … -->` is written
 * inside the package (so `import … from 'wa-transport'` resolves to this checkout's sources via
 * the "source" export condition) and executed; it must exit 0 by itself.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedRedisUrl } from './redis/shared.js';

const run = promisify(execFile);
const root = new URL('../', import.meta.url);
const scratch = new URL('test/.readme-examples/', root);
const readme = readFileSync(new URL('README.md', root), 'utf8');
const examples = [...readme.matchAll(/<!-- example: runs[^>]*-->\n```ts\n([\s\S]*?)```/g)].map((m, i) => ({
  name: `example ${i + 1}: ${m[1]!.split('\n').find((l) => l.startsWith('//') || l.includes('import'))?.slice(0, 60)}`,
  code: m[1]!,
}));

// The Redis examples read WA_REPLAY_REDIS_URL: the run's own server, never the machine's.
let redisUrl = '';
beforeAll(async () => {
  redisUrl = await sharedRedisUrl();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('README examples', () => {
  it('has runnable examples', () => {
    expect(examples.length).toBeGreaterThan(0);
  });

  it.each(examples.map((e, i) => ({ ...e, i })))('$name', async ({ code, i }) => {
    mkdirSync(scratch, { recursive: true });
    const file = new URL(`example-${i}.mts`, scratch);
    writeFileSync(file, code);
    const env = { ...process.env };
    delete env['WA_SECRET'];
    env['WA_REPLAY_REDIS_URL'] = redisUrl;
    const { stdout } = await run(process.execPath, ['--conditions=source', '--import', 'tsx', file.pathname], {
      cwd: root.pathname,
      timeout: 60_000,
      env,
    });
    // A comment after a console.log states what it prints: hold the example to it.
    const claims = [...code.matchAll(/console\.log\(.*\);?\s*\/\/\s*(.+)$/gm)].map((m) => m[1]!.trim());
    for (const claim of claims) expect(stdout).toContain(claim);
  });
});
