/**
 * `npm run demo` as CI runs it: a child process that must print its summary and exit 0 by
 * itself. Also the standalone examples, started from their environment variables.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { generateSecret } from '../src/index.js';

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('demo', () => {
  it('runs the whole story and exits 0 with its summary', async () => {
    const { code, out } = await run(['examples/demo.ts']);
    expect(out).toContain('Summary: 7/7 expectations held.');
    expect(out).not.toContain('✘');
    expect(out).toMatch(/replayed request\s+→ 409/);
    expect(out).toMatch(/wrong-secret WS client\s+→ closed 4001/);
    expect(code).toBe(0);
  });

  it('examples/webapp.ts talks to examples/coreapp.ts, both configured by the environment', async () => {
    const secret = generateSecret();
    const core = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'examples/coreapp.ts'], {
      env: { ...process.env, WA_SECRET: secret, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        core.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const match = /listening on (http:\/\/\S+)/.exec(out);
          if (match) resolve(match[1]!);
        });
        core.once('exit', () => reject(new Error(`coreapp exited: ${out}`)));
      });
      const { code, out } = await run(['examples/webapp.ts'], { WA_SECRET: secret, COREAPP_URL: url });
      expect(out).toContain('POST /v1/transfers → 201');
      expect(out).toContain('acks 1, 2, 3');
      expect(code).toBe(0);
    } finally {
      const exited = new Promise((resolve) => core.once('exit', resolve));
      core.kill('SIGTERM');
      await exited;
    }
  });
});
