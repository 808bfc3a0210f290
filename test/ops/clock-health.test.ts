import { describe, expect, it } from 'vitest';
import { CALLBACK_FAILED_EVENT } from '../../src/callbacks.js';
import { ClockHealth, type ClockHealthOptions } from '../../src/ops/clock-health.js';
import { createEndpoint } from '../../src/endpoint.js';
import { ErrorCode, isWaTransportError } from '../../src/errors.js';
import { generateSecret } from '../../src/keys.js';
import type { Logger } from '../../src/log.js';
import type { EndpointObserver } from '../../src/observer.js';
import { UPTIME_MS, unhandledRejectionsDuring } from '../helpers.js';

const SECRET = generateSecret();

type Event =
  | { kind: 'warn' | 'info'; record: Record<string, unknown>; message: string }
  | { kind: 'rejected'; code: string };

/**
 * A WebApp whose clock runs `drift()` ms off the CoreApp's. The CoreApp has a ClockHealth
 * observer whose log lines, and the CoreApp's rejections, land in one ordered list.
 */
async function skewedPair(options: Pick<ClockHealthOptions, 'warnEveryMs' | 'onWarning'> = {}) {
  let coreNow = 1_800_000_000_000;
  let drift = 0;
  const events: Event[] = [];
  const logger: Logger = {
    warn: (record, message) =>
      events.push({ kind: 'warn', record: record as Record<string, unknown>, message: message ?? '' }),
    info: (record, message) =>
      events.push({ kind: 'info', record: record as Record<string, unknown>, message: message ?? '' }),
  };
  const health = new ClockHealth({ logger, clock: () => coreNow, ...options });
  const web = await createEndpoint({ role: 'webapp', secret: SECRET, clock: () => coreNow + drift });
  const core = await createEndpoint({ role: 'coreapp', secret: SECRET, clock: () => coreNow, observer: health });
  coreNow += UPTIME_MS; // the CoreApp has been up a while: its replay store vouches for peers behind it
  /** One request: time passes, the drift changes, WebApp seals, CoreApp opens. */
  const send = async (stepMs: number, newDrift: number) => {
    coreNow += stepMs;
    drift = newDrift;
    try {
      await core.open(web.seal('ping'));
    } catch (error) {
      if (!isWaTransportError(error)) throw error;
      events.push({ kind: 'rejected', code: error.code });
    }
  };
  return { health, events, send, web, core, advance: (ms: number) => (coreNow += ms) };
}

const firstIndex = (events: Event[], test: (e: Event) => boolean) => events.findIndex(test);

describe('ClockHealth', () => {
  it('a peer clock drifting ahead produces the warning first and ERR_WA_FUTURE later', async () => {
    const { events, send, health } = await skewedPair();
    // 200 ms per request; the peer's clock gains 100 ms per request, up to 14 s ahead.
    for (let i = 1; i <= 140; i++) await send(200, i * 100);

    const warning = firstIndex(events, (e) => e.kind === 'warn');
    const rejection = firstIndex(events, (e) => e.kind === 'rejected');
    expect(warning).toBeGreaterThanOrEqual(0);
    expect(rejection).toBeGreaterThan(warning);
    expect(events[rejection]).toEqual({ kind: 'rejected', code: ErrorCode.FUTURE });
    // Well before: the warning comes while the drift is still far under the 10 s limit.
    const warned = events[warning] as { record: Record<string, unknown>; message: string };
    expect(warned.record['event']).toBe('wa_transport.clock_skew');
    expect(warned.record['medianSkewMs']).toBeGreaterThan(5000);
    expect(warned.record['medianSkewMs']).toBeLessThan(8000);
    expect(warned.message).toMatch(/peer clock offset \+\d+ ms .* before envelopes are rejected as ERR_WA_FUTURE/);
    // Rate-limited: 140 requests span 28 s, inside one 60 s period.
    expect(events.filter((e) => e.kind === 'warn')).toHaveLength(1);
    expect(health.report().status).toBe('drifting');
  });

  it('a peer clock falling behind produces the warning first and ERR_WA_EXPIRED later', async () => {
    const { events, send } = await skewedPair();
    for (let i = 1; i <= 140; i++) await send(200, -i * 100);
    const warning = firstIndex(events, (e) => e.kind === 'warn');
    const rejection = firstIndex(events, (e) => e.kind === 'rejected');
    expect(warning).toBeGreaterThanOrEqual(0);
    expect(rejection).toBeGreaterThan(warning);
    expect(events[rejection]).toEqual({ kind: 'rejected', code: ErrorCode.EXPIRED });
    expect((events[warning] as { message: string }).message).toMatch(/offset -\d+ ms .*ERR_WA_EXPIRED/);
  });

  it('says envelopes ARE being rejected when the offset is already past the limit', async () => {
    const { events, send } = await skewedPair();
    // Clocks 15 s apart from the start: every request is refused, none is "about to be".
    for (let i = 0; i < 10; i++) await send(200, 15_000);
    expect(
      events.filter((e) => e.kind === 'rejected').every((e) => e.kind === 'rejected' && e.code === ErrorCode.FUTURE),
    ).toBe(true);
    const warned = events.find((e) => e.kind === 'warn') as { record: Record<string, unknown>; message: string };
    expect(warned.record['rejecting']).toBe(true);
    expect(warned.message).toMatch(/past the 10000 ms limit: envelopes ARE being rejected as ERR_WA_FUTURE/);
    expect(warned.message).not.toMatch(/before envelopes are rejected/);
  });

  it('repeats the warning only after warnEveryMs, and says when the offset recovers', async () => {
    const { events, send } = await skewedPair({ warnEveryMs: 10_000 });
    for (let i = 0; i < 40; i++) await send(200, 7000); // 8 s of drift: one warning
    expect(events.filter((e) => e.kind === 'warn')).toHaveLength(1);
    for (let i = 0; i < 30; i++) await send(200, 7000); // past 10 s since the warning: a second
    expect(events.filter((e) => e.kind === 'warn')).toHaveLength(2);
    for (let i = 0; i < 40; i++) await send(200, 50); // fixed
    const recovered = events.filter((e) => e.kind === 'info');
    expect(recovered).toHaveLength(1);
    expect((recovered[0] as { record: Record<string, unknown> }).record['event']).toBe(
      'wa_transport.clock_skew_recovered',
    );
    expect(events.some((e) => e.kind === 'rejected')).toBe(false);
  });

  it('ignores a single delayed envelope: the median, not the latest sample, decides', async () => {
    const { events, send } = await skewedPair();
    for (let i = 0; i < 30; i++) await send(200, -20);
    await send(200, -9500); // one envelope stuck in a queue for 9.5 s
    for (let i = 0; i < 10; i++) await send(200, -20);
    expect(events).toEqual([]);
  });

  it('an attacker replaying old captured traffic cannot raise the alarm: expired envelopes are not evidence', async () => {
    const { events, send, web, core, advance, health } = await skewedPair();
    // Captured on the wire while the clocks agreed (never delivered, or delivered: the same).
    const captured = Array.from({ length: 40 }, (_, i) => web.seal({ transfer: i }));
    advance(60_000);
    for (let i = 0; i < 10; i++) await send(200, -20); // healthy traffic
    for (const envelope of captured) {
      await expect(core.open(envelope)).rejects.toMatchObject({ code: ErrorCode.EXPIRED });
    }
    for (let i = 0; i < 10; i++) await send(200, -20);
    expect(events.filter((e) => e.kind === 'warn')).toEqual([]);
    expect(health.report()).toMatchObject({ status: 'ok', samples: 20 });
  });

  it('counts ERR_WA_FUTURE at once: only a peer whose clock is ahead can produce it', () => {
    const health = new ClockHealth({ minSamples: 1 });
    health.rejected({ code: ErrorCode.EXPIRED, skewMs: -12_000 });
    expect(health.report()).toMatchObject({ samples: 0, status: 'unknown' });
    health.rejected({ code: ErrorCode.FUTURE, skewMs: 12_000 });
    expect(health.report()).toMatchObject({ samples: 1, status: 'drifting' });
  });

  it('a throwing or rejecting onWarning is logged and changes nothing', async () => {
    for (const onWarning of [
      () => {
        throw new Error('pager down');
      },
      async () => Promise.reject(new Error('pager down')),
    ]) {
      const { events, send, health } = await skewedPair({ onWarning });
      const unhandled = await unhandledRejectionsDuring(async () => {
        for (let i = 0; i < 40; i++) await send(200, 7000);
      });
      expect(unhandled).toEqual([]);
      expect(events.some((e) => e.kind === 'rejected')).toBe(false);
      expect(events.filter((e) => e.kind === 'warn').map((e) => (e as { record: object }).record)).toEqual([
        expect.objectContaining({ event: 'wa_transport.clock_skew' }),
        expect.objectContaining({ event: CALLBACK_FAILED_EVENT, callback: 'onWarning' }),
      ]);
      expect(health.report().status).toBe('drifting');
    }
  });

  it('rejects bad options with ERR_WA_CONFIG, never a RangeError', () => {
    for (const options of [
      { warnFraction: 1 },
      { warnFraction: 0 },
      { warnFraction: Number.NaN },
      { samples: 0 },
      { samples: 2.5 },
      { minSamples: 0 },
      { windowMs: -1 },
      { maxSkewMs: Number.NaN },
      { warnEveryMs: -5 },
      { onWarning: 'page me' },
      { clock: 0 },
    ]) {
      expect(() => new ClockHealth(options as never), JSON.stringify(options)).toThrow(
        expect.objectContaining({ code: ErrorCode.CONFIG }),
      );
    }
    expect(() => new ClockHealth(null as never)).toThrow(expect.objectContaining({ code: ErrorCode.CONFIG }));
  });

  it('leaves replays out: their timestamps say nothing about a clock', () => {
    const health = new ClockHealth({ minSamples: 1 });
    const observer: EndpointObserver = health;
    for (let i = 0; i < 10; i++) observer.rejected?.({ code: ErrorCode.REPLAYED, skewMs: -9000 });
    expect(health.report()).toMatchObject({ samples: 0, status: 'unknown' });
    observer.rejected?.({ code: ErrorCode.FUTURE, skewMs: 12_000 });
    expect(health.report()).toMatchObject({ samples: 1, medianSkewMs: 12_000, limitMs: 10_000, status: 'drifting' });
  });

  it('judges against the endpoint limits it is given', () => {
    const health = new ClockHealth({ windowMs: 30_000, maxSkewMs: 2000, minSamples: 3 });
    for (let i = 0; i < 3; i++) health.opened({ keyId: 'x', skewMs: -12_000, storeMs: 0 });
    expect(health.report().status).toBe('ok'); // 12 s behind of a 30 s window
    for (let i = 0; i < 5; i++) health.opened({ keyId: 'x', skewMs: 1500, storeMs: 0 });
    expect(health.report()).toMatchObject({ status: 'drifting', limitMs: 2000 }); // 1.5 s ahead of 2 s
  });
});
