/**
 * A CoreApp in a process of its own, for measuring what stalled clients make it hold
 * (test/adversarial/stalled-clients.test.ts). Prints `{"port":…}` once listening; answers each
 * line "rss" on stdin with `{"rss":…}` after a garbage collection (run with --expose-gc).
 */
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { createEndpoint } from '../../src/index.js';
import { sealedHandler } from '../../src/transport/http.js';

const endpoint = await createEndpoint({ role: 'coreapp', secret: process.env['WA_SECRET']! });
const server = createServer(sealedHandler({ endpoint }, (req) => ({ echo: req.payload })));
// The stalled clients are many: let every one of them in, as a real server would.
server.maxHeadersCount = 50;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  console.log(JSON.stringify({ port: address.port }));
});
const gc = (globalThis as { gc?: () => void }).gc;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'rss') return;
  gc?.();
  console.log(JSON.stringify({ rss: process.memoryUsage().rss }));
});
process.stdin.on('end', () => process.exit(0));
