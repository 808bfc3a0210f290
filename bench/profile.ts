/**
 * Where a round trip's time goes: runs seal → openSync in a loop under V8's sampling profiler
 * (the same data as `node --cpu-prof`) and sums self time by layer.
 *
 *   npx tsx bench/profile.ts [--backend wasm|native] [--size 64] [--seconds 3] [--top 12]
 */
import { Session } from 'node:inspector';
import { createEndpoint } from '../src/endpoint.js';
import { generateSecret } from '../src/keys.js';
import { MemoryReplayStore } from '../src/replay/memory.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  readonly backend: string;
  readonly size: number;
  readonly roundTripsPerSec: number;
  /** Share of samples per layer, largest first. */
  readonly layers: ReadonlyArray<{ layer: string; share: number }>;
  /** Share of samples per function, largest first. */
  readonly functions: ReadonlyArray<{ name: string; share: number }>;
}

/** Which layer a sampled frame belongs to. */
function layerOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url.startsWith('wasm://')) return 'libsodium cipher (WASM)';
  if (url.includes('/src/replay/')) return 'nonce cache (src/replay)';
  if (url.includes('/src/crypto/')) return 'backend glue: copies, pools (src/crypto)';
  if (
    url.includes('/src/envelope/') ||
    url.includes('/src/endpoint.ts') ||
    url.includes('/src/verifier.ts') ||
    url.includes('/src/keys.ts')
  ) {
    return 'envelope, endpoint, verifier (JS)';
  }
  if (functionName === '(garbage collector)') return 'garbage collector';
  if (url === '' && !functionName.startsWith('(')) {
    // V8 cannot name frames inside a native addon (it shows a nearby symbol) nor tell its
    // builtins apart here: with the native backend this is mostly libsodium itself.
    return 'native code: sodium-native, V8 builtins (memcpy)';
  }
  if (url.includes('/bench/')) return 'benchmark loop';
  return 'other (runtime, idle, loader)';
}

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T)));
  });
}

export async function profileRoundTrip(
  backendName: 'wasm' | 'native',
  size: number,
  seconds: number,
): Promise<ProfileSummary> {
  const secret = generateSecret(); // a secret written here would be published, and refused
  const web = await createEndpoint({ role: 'webapp', secret, backend: backendName });
  const core = await createEndpoint({
    role: 'coreapp',
    secret,
    replayStore: new MemoryReplayStore({ maxEntries: 2 ** 24 }),
    backend: backendName,
  });
  const payload = new Uint8Array(size).fill(7);
  const loop = (ms: number): number => {
    let n = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      for (let i = 0; i < 64; i++) core.openSync(web.seal(payload));
      n += 64;
    }
    return n;
  };
  loop(300); // warm-up: JIT, tables, pools

  const session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.setSamplingInterval', { interval: 100 });
  await post(session, 'Profiler.start');
  const started = performance.now();
  const n = loop(seconds * 1000);
  const elapsed = performance.now() - started;
  const { profile } = await post<{ profile: Profile }>(session, 'Profiler.stop');
  session.disconnect();

  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const layers = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    layers.set(layerOf(frame), (layers.get(layerOf(frame)) ?? 0) + dt);
    const file = frame.url.split('/').slice(-2).join('/');
    const name = `${frame.functionName || '(anonymous)'}${file ? ` ${file}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + dt);
  });
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    backend: backendName,
    size,
    roundTripsPerSec: (n * 1000) / elapsed,
    layers: sorted(layers).map(([layer, t]) => ({ layer, share: t / total })),
    functions: sorted(functions).map(([name, t]) => ({ name, share: t / total })),
  };
}

export function profileMarkdown(p: ProfileSummary, top: number): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return [
    `**${p.backend}, ${p.size} B payload** (${Math.round(p.roundTripsPerSec).toLocaleString('en-US')} round trips/s while profiled)`,
    '',
    '| layer | share of samples |',
    '|---|--:|',
    ...p.layers.map((l) => `| ${l.layer} | ${pct(l.share)} |`),
    '',
    `Top functions (self time): ${p.functions
      .slice(0, top)
      .map((f) => `${f.name} ${pct(f.share)}`)
      .join('; ')}.`,
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string, fallback: string) => {
    const at = process.argv.indexOf(`--${name}`);
    return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
  };
  const summary = await profileRoundTrip(
    arg('backend', 'wasm') as 'wasm' | 'native',
    Number(arg('size', '64')),
    Number(arg('seconds', '3')),
  );
  console.log(profileMarkdown(summary, Number(arg('top', '12'))));
}
