/**
 * Where sodium-native overtakes libsodium's WebAssembly: each backend's seal and open of one
 * envelope (39-byte header, a 45-byte context as an HTTP request binds) at each plaintext size,
 * all interleaved round by round (bench/harness.ts). The answer sets `AUTO_NATIVE_MIN_BYTES`
 * (src/crypto/select-backend.ts), the size from which backend 'auto' uses sodium-native.
 *
 *   npx tsx bench/crossover.ts [--sizes 64,256,384,512,768,1024,2048] [--rounds 9] [--slice-ms 100]
 */
import { randomBytes } from 'node:crypto';
import type { AeadBackend, AeadKey } from '../src/crypto/aead.js';
import { loadNativeBackend } from '../src/crypto/native.js';
import { sodiumReady } from '../src/crypto/ready.js';
import { wasmBackend } from '../src/crypto/wasm.js';
import { HEADER_BYTES, NONCE_OFFSET } from '../src/envelope/format.js';
import { type Task, measure } from './harness.js';

const CONTEXT_BYTES = 45; // 'wa-transport/http/v1 request\nPOST /v1/messages'

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

await sodiumReady();
const native = await loadNativeBackend();
if (native === undefined) {
  console.log('sodium-native is not installed: nothing to compare');
  process.exit(0);
}
const sizes = arg('sizes', '64,256,384,512,768,1024,2048').split(',').map(Number);
const key = randomBytes(32) as Uint8Array as AeadKey;
const header = randomBytes(HEADER_BYTES);
const context = randomBytes(CONTEXT_BYTES);
let sink = 0;

const tasks: Task[] = [];
for (const size of sizes) {
  const plaintext = randomBytes(size);
  const sealed = wasmBackend.seal(header, NONCE_OFFSET, plaintext, context, key);
  for (const backend of [wasmBackend, native] satisfies AeadBackend[]) {
    tasks.push({
      id: `${backend.name} seal ${size}`,
      run: (n) => {
        for (let i = 0; i < n; i++) sink ^= backend.seal(header, NONCE_OFFSET, plaintext, context, key).length;
      },
    });
    tasks.push({
      id: `${backend.name} open ${size}`,
      run: (n) => {
        for (let i = 0; i < n; i++) sink ^= backend.open(sealed, HEADER_BYTES, NONCE_OFFSET, context, key)?.length ?? 0;
      },
    });
  }
}
const rates = new Map(
  (
    await measure(tasks, { rounds: Number(arg('rounds', '9')), sliceMs: Number(arg('slice-ms', '100')), warmupMs: 200 })
  ).map((r) => [r.id, r]),
);
const cell = (id: string) => {
  const r = rates.get(id)!;
  return `${(1e9 / r.opsPerSec).toFixed(0)} ns ±${(50 * r.spread).toFixed(0)}%`;
};
const gain = (op: string, size: number) =>
  `${(rates.get(`native ${op} ${size}`)!.opsPerSec / rates.get(`wasm ${op} ${size}`)!.opsPerSec).toFixed(2)}×`;
console.log('| plaintext | wasm seal | native seal | native ÷ wasm | wasm open | native open | native ÷ wasm |');
console.log('|--:|--:|--:|--:|--:|--:|--:|');
for (const size of sizes) {
  console.log(
    `| ${size} B | ${cell(`wasm seal ${size}`)} | ${cell(`native seal ${size}`)} | ${gain('seal', size)} | ` +
      `${cell(`wasm open ${size}`)} | ${cell(`native open ${size}`)} | ${gain('open', size)} |`,
  );
}
console.log(`\n(speed ratio: above 1× sodium-native is faster; sink ${sink & 1})`);
