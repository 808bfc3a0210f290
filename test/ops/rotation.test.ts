/**
 * The rotation runbook under load: a WebApp and a CoreApp talk over real HTTP on 127.0.0.1
 * (the library's own node:http server and undici client) while WA_SECRET is rotated in three
 * steps, each one replacing the endpoints; not one request may fail. A second test skips
 * the accept step and shows that the traffic check would catch the mistake.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EndpointLike, type Opened, createEndpoint, openNow, openerOf } from '../../src/endpoint.js';
import { ErrorCode } from '../../src/errors.js';
import { generateSecret } from '../../src/keys.js';
import { Metrics } from '../../src/ops/metrics.js';
import { RotatingEndpoint, type RotationUpdate } from '../../src/ops/rotation.js';
import { HttpClient } from '../../src/transport/http-client.js';
import { type SealedRequest, sealedHandler } from '../../src/transport/http-server.js';

const OLD = generateSecret();
const NEW = generateSecret();
const LOOPS = 4;

interface Echo {
  loop: number;
  i: number;
}

/** A CoreApp behind node:http and a WebApp client, both rotatable. */
async function deployment() {
  const coreMetrics = new Metrics();
  const core = await RotatingEndpoint.create({ role: 'coreapp', secret: OLD, observer: coreMetrics });
  const web = await RotatingEndpoint.create({ role: 'webapp', secret: OLD });
  const requestKeyIds = new Set<string>();
  const handle = (request: SealedRequest<Echo>) => {
    requestKeyIds.add(request.keyId);
    return { echo: request.payload };
  };
  // The transports take the RotatingEndpoint itself: each call goes to the endpoint in use.
  const server: Server = createServer(sealedHandler<Echo>({ endpoint: core }, handle));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dispatcher = new Agent({ connections: LOOPS });
  const client = () => new HttpClient({ endpoint: web, baseUrl, dispatcher });
  const close = async () => {
    await dispatcher.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { core, web, client, requestKeyIds, coreMetrics, close };
}

type Deployment = Awaited<ReturnType<typeof deployment>>;

/** Continuous traffic from LOOPS concurrent senders until `stop()`. */
function traffic(d: Deployment) {
  const done = new Array<number>(LOOPS).fill(0);
  const failures: unknown[] = [];
  const responseKeyIds = new Set<string>();
  let running = true;
  const loops = done.map(async (_, loop) => {
    for (let i = 0; running; i++) {
      try {
        const response = await d.client().post<{ echo: Echo }>('/v1/echo', { loop, i });
        if (response.status !== 200 || response.payload.echo.i !== i) throw new Error(`bad answer ${response.status}`);
        responseKeyIds.add(response.keyId);
        done[loop]!++;
      } catch (error) {
        failures.push(error);
        done[loop]!++;
      }
    }
  });
  /** Resolves once every sender has finished `n` more requests: none is still in flight from before. */
  const settle = async (n = 5) => {
    const target = done.map((count) => count + n);
    while (done.some((count, loop) => count < target[loop]!)) await new Promise((r) => setTimeout(r, 5));
  };
  const stop = async () => {
    running = false;
    await Promise.all(loops);
  };
  return { done, failures, responseKeyIds, settle, stop };
}

describe('secret rotation under continuous traffic', () => {
  let d: Deployment;
  beforeAll(async () => {
    d = await deployment();
  });
  afterAll(async () => {
    await d.close();
  });

  it('runs the three-step runbook with zero failed requests', async () => {
    const oldKeyId = d.core.keyId;
    const load = traffic(d);
    await load.settle();

    const step = async (update: RotationUpdate, first: RotatingEndpoint, second: RotatingEndpoint) => {
      await first.update(update);
      await load.settle(); // one service updated, the other not yet: a rolling deploy
      await second.update(update);
      await load.settle();
    };
    // 1. Accept the new secret everywhere (it seals with OLD still).
    await step({ secret: OLD, previousSecrets: [NEW] }, d.core, d.web);
    // 2. Switch the senders to NEW, one service at a time; OLD is still accepted.
    await step({ secret: NEW, previousSecrets: [OLD] }, d.web, d.core);
    // 3. Remove OLD, once nothing sealed with it can still arrive.
    await step({ secret: NEW, previousSecrets: [] }, d.core, d.web);
    await load.stop();

    expect(load.failures).toEqual([]);
    const total = load.done.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(LOOPS * 5 * 7);
    expect(d.coreMetrics.snapshot()).toMatchObject({ opened: total, rejectedTotal: 0 });
    const newKeyId = d.core.keyId;
    expect(newKeyId).not.toBe(oldKeyId);
    expect(d.web.keyIds).toEqual([newKeyId]);
    // Both secrets were in use in each direction during the rotation.
    expect([...d.requestKeyIds].sort()).toEqual([oldKeyId, newKeyId].sort());
    expect([...load.responseKeyIds].sort()).toEqual([oldKeyId, newKeyId].sort());

    // The old secret is now refused by both sides.
    const oldWeb = await createEndpoint({ role: 'webapp', secret: OLD });
    const oldCore = await createEndpoint({ role: 'coreapp', secret: OLD });
    await expect(d.core.open(oldWeb.seal('late'))).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_KEY });
    await expect(d.web.open(oldCore.seal('late'))).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_KEY });
  });
});

describe('skipping the accept step', () => {
  it('fails requests: the traffic check catches a sender switched too early', async () => {
    const d = await deployment();
    try {
      const load = traffic(d);
      await load.settle();
      await d.web.update({ secret: NEW, previousSecrets: [OLD] }); // CoreApp does not know NEW yet
      await load.settle();
      await load.stop();
      expect(load.failures.length).toBeGreaterThan(0);
      // Refused before authentication, so unsealed: the code is the CoreApp's claim.
      expect(load.failures.every((e) => (e as { claimedCode?: unknown }).claimedCode === ErrorCode.UNKNOWN_KEY)).toBe(
        true,
      );
    } finally {
      await d.close();
    }
  });
});

describe('RotatingEndpoint', () => {
  it('keeps one replay store across updates: a replay after a swap is still refused', async () => {
    const web = await createEndpoint({ role: 'webapp', secret: OLD });
    const core = await RotatingEndpoint.create({ role: 'coreapp', secret: OLD });
    const envelope = web.seal('once');
    await core.open(envelope);
    const store = core.replayStore;
    await core.update({ secret: NEW, previousSecrets: [OLD] });
    expect(core.replayStore).toBe(store);
    expect(() => core.openSync(envelope)).toThrow(expect.objectContaining({ code: ErrorCode.REPLAYED }));
  });

  it('leaves the endpoint in place when an update is invalid', async () => {
    const core = await RotatingEndpoint.create({ role: 'coreapp', secret: OLD });
    const before = core.endpoint;
    await expect(core.update({ secret: 'weak' })).rejects.toMatchObject({ code: ErrorCode.WEAK_SECRET });
    await expect(core.update({ secret: OLD, previousSecrets: [OLD] })).rejects.toMatchObject({
      code: ErrorCode.CONFIG,
    });
    expect(core.endpoint).toBe(before);
  });

  it('is opened through its current endpoint without a promise by the transports, and only it', async () => {
    const web = await createEndpoint({ role: 'webapp', secret: OLD });
    const core = await RotatingEndpoint.create({ role: 'coreapp', secret: OLD });
    // What the HTTP bindings and the WebSocket channel call: an Opened at once, not a promise.
    const opened = openNow(core, web.seal('now'), {});
    expect(opened).not.toBeInstanceOf(Promise);
    expect((opened as Opened).payload).toBe('now');
    await core.update({ secret: NEW, previousSecrets: [OLD] });
    expect(openerOf(core)).toBe(core.endpoint); // the endpoint in use after an update
    // A forwarder of the caller's own may do more in open: it is asked through open.
    const calls: string[] = [];
    const own: EndpointLike = {
      role: 'coreapp',
      maxEnvelopeBytes: core.maxEnvelopeBytes,
      seal: (payload, options) => core.seal(payload, options),
      sealText: (payload, options) => core.sealText(payload, options),
      open: (envelope, options) => {
        calls.push('open');
        return core.open(envelope, options);
      },
      openSync: (envelope, options) => core.openSync(envelope, options),
      openReply: (envelope, options) => core.openReply(envelope, options),
      newRequestId: () => core.newRequestId(),
    };
    expect(openerOf(own)).toBeUndefined();
    await expect(openNow(own, web.seal('later'), {})).resolves.toMatchObject({ payload: 'later' });
    expect(calls).toEqual(['open']);
  });

  it('never shows its secrets', async () => {
    const { inspect } = await import('node:util');
    const core = await RotatingEndpoint.create({ role: 'coreapp', secret: OLD, previousSecrets: [NEW] });
    for (const text of [JSON.stringify(core), inspect(core, { showHidden: true, depth: 10 }), String(core)]) {
      expect(text).not.toContain(OLD);
      expect(text).not.toContain(NEW);
    }
  });
});
