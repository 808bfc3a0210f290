/**
 * `npm run demo`: the whole story in one process, with nothing to configure.
 *
 * 1. A CoreApp (examples/coreapp.ts) serves HTTPS and WSS with a throwaway self-signed
 *    certificate (MODERN TLS profile), a throwaway secret and an in-memory replay store.
 * 2. A WebApp (examples/webapp.ts) calls it over sealed HTTP and a sealed WebSocket.
 * 3. An attacker, who sees the wire but not the secret, replays a captured request, tampers
 *    with one, and tries with a wrong secret over HTTP and WebSocket: all refused, none reaches
 *    application code.
 *
 * Prints a summary; exits 0 when every expectation held, 1 otherwise.
 */
import { Agent, request } from 'undici';
import { createEndpoint, generateSecret, MemoryReplayStore } from 'wa-transport';
import { HttpClient, HttpStatusError } from 'wa-transport/http';
import { ENVELOPE_CONTENT_TYPE, requestContext } from 'wa-transport/protocol';
import { clientTlsOptions } from 'wa-transport/tls';
import { WsClient } from 'wa-transport/ws';
import { WsCloseCode } from 'wa-transport/protocol';
import { createThrowawayCertificates } from './demo/certs.js';
import { startCoreApp } from './coreapp.js';
import { runWebApp } from './webapp.js';

// A demo that hangs is a failed demo.
setTimeout(() => {
  console.error('demo: timed out');
  process.exit(1);
}, 30_000).unref();

const results: Array<{ ok: boolean; line: string }> = [];
function expectThat(ok: boolean, line: string): void {
  results.push({ ok, line });
  console.log(`${ok ? '✔' : '✘'} ${line}`);
}

const secret = generateSecret();
const certs = await createThrowawayCertificates();
const core = await startCoreApp({
  secret,
  tls: { certFile: certs.certFile, keyFile: certs.keyFile, level: 'modern' },
  replayStore: new MemoryReplayStore(),
});
const tls = { caFile: certs.caFile };
console.log(
  `CoreApp on ${core.url} and ${core.wsUrl} (TLS 1.3, self-signed certificate), key id ${core.endpoint.keyId}\n`,
);

try {
  console.log('— the WebApp talks to the CoreApp —');
  const round = await runWebApp({ secret, url: core.url, tls, print: (line) => console.log(`  ${line}`) });
  expectThat(round.transfer.status === 201, 'sealed HTTP request answered, response opened and bound to it');
  const acks = round.acks.map((a) => (a as { ack: { n: number } }).ack.n);
  expectThat(acks.join() === '1,2,3', 'sealed WebSocket messages acknowledged in order');

  console.log('\n— an attacker on the wire, without the secret —');
  const handledBefore = core.handled.http;
  const web = await createEndpoint({ role: 'webapp', secret });
  const dispatcher = new Agent({ connect: clientTlsOptions(tls) });
  const send = async (body: Uint8Array) => {
    const res = await request(`${core.url}/v1/transfers`, {
      method: 'POST',
      body,
      headers: { 'content-type': ENVELOPE_CONTENT_TYPE },
      dispatcher,
    });
    return { status: res.statusCode, body: await res.body.text() };
  };
  // What the attacker captured: one genuine request, as it crossed the wire.
  const captured = web.seal({ to: 'mallory', amount: 1 }, { context: requestContext('POST', '/v1/transfers') });
  const original = await send(captured);
  const replay = await send(captured);
  console.log(`  replayed request          → ${replay.status} ${replay.body}`);
  expectThat(original.status === 201 && replay.status === 409, 'replayed request refused (409), handled only once');

  const tampered = web.seal({ to: 'alice', amount: 5 }, { context: requestContext('POST', '/v1/transfers') });
  tampered[tampered.length - 17]! ^= 0x01; // flip one bit of the ciphertext
  const forged = await send(tampered);
  console.log(`  tampered request          → ${forged.status} ${forged.body}`);
  expectThat(forged.status === 401, 'tampered request refused (401)');
  await dispatcher.close();

  const intruder = await createEndpoint({ role: 'webapp', secret: generateSecret() });
  const intruderHttp = new HttpClient({ endpoint: intruder, baseUrl: core.url, tls });
  const refused = await intruderHttp.post('/v1/transfers', { to: 'mallory', amount: 1000 }).catch((e: unknown) => e);
  await intruderHttp.close();
  const httpRefused = refused instanceof HttpStatusError && refused.status === 401;
  console.log(`  wrong-secret HTTP client  → ${httpRefused ? `${refused.status} ${refused.code}` : String(refused)}`);
  expectThat(httpRefused, 'wrong-secret HTTP client refused (401)');

  const closeCode = await new Promise<number>((resolve) => {
    const ws = new WsClient({
      endpoint: intruder,
      url: core.wsUrl,
      reconnect: false,
      tls: { caFile: certs.caFile },
      onClose: (event) => resolve(event.code),
    });
    void ws.ready().catch(() => {});
  });
  console.log(`  wrong-secret WS client    → closed ${closeCode}`);
  expectThat(closeCode === WsCloseCode.AUTH_FAILED, 'wrong-secret WebSocket client refused (close 4001)');
  expectThat(core.handled.http === handledBefore + 1, 'no refused request reached the CoreApp handler');
} catch (error) {
  expectThat(false, `demo failed: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await core.close();
  await certs.remove();
}

const failed = results.filter((r) => !r.ok).length;
console.log(
  `\nSummary: ${results.length - failed}/${results.length} expectations held${failed ? ` — ${failed} FAILED` : ''}.`,
);
process.exitCode = failed === 0 ? 0 : 1;
