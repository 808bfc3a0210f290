import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../src/errors.js';
import { Verifier } from '../src/verifier.js';
import { ManualClock, UPTIME_MS } from './helpers.js';

const code = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (error) {
    return (error as { code: string }).code;
  }
};

describe('Verifier', () => {
  it('accepts exactly the timestamps in [now − window, now + skew]', () => {
    fc.assert(
      fc.property(
        fc.nat(60_000),
        fc.nat(60_000),
        fc.integer({ min: -100_000, max: 100_000 }),
        (windowMs, maxSkewMs, offset) => {
          const clock = new ManualClock();
          const verifier = new Verifier({ windowMs, maxSkewMs, clock: clock.now });
          clock.advance(UPTIME_MS * 2); // past the store's start by more than any offset below
          const now = verifier.now();
          const expected = offset < -windowMs ? ErrorCode.EXPIRED : offset > maxSkewMs ? ErrorCode.FUTURE : 'ok';
          expect(code(() => verifier.checkTime(now + offset, now))).toBe(expected);
        },
      ),
    );
  });

  it('never reads its clock as earlier than before', () => {
    const clock = new ManualClock();
    const verifier = new Verifier({ clock: clock.now });
    const first = verifier.now();
    clock.advance(-60_000);
    expect(verifier.now()).toBe(first);
    clock.advance(120_000);
    expect(verifier.now()).toBe(first + 60_000);
  });

  it('refuses envelopes sealed before its replay store started remembering', () => {
    const clock = new ManualClock();
    const verifier = new Verifier({ clock: clock.now });
    const started = verifier.now();
    expect(code(() => verifier.checkTime(started - 1, started))).toBe(ErrorCode.EXPIRED);
    expect(code(() => verifier.checkTime(started, started))).toBe('ok');
  });

  it('records a nonce until its timestamp leaves the window', () => {
    const clock = new ManualClock();
    const verifier = new Verifier({ clock: clock.now });
    const nonce = new Uint8Array(24).fill(9);
    const now = verifier.now();
    expect(code(() => verifier.recordNonce(nonce, now, now, 'k'))).toBe('ok');
    expect(code(() => verifier.recordNonce(nonce, now, now + 10_000, 'k'))).toBe(ErrorCode.REPLAYED);
    // Past its retention the store no longer vouches, whatever the verifier's clock says.
    expect(code(() => verifier.recordNonce(nonce, now, now + 10_001, 'k'))).toBe(ErrorCode.EXPIRED);
  });
});
