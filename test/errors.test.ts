import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, WaTransportError, createEndpoint, generateSecret, isWaTransportError } from '../src/index.js';
import { withoutStackTraces } from '../src/errors.js';

const frames = (error: Error): string[] => (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));

describe('rejection errors are cheap (issue 11: forgeries must not cost more than valid traffic)', () => {
  const limit = Error.stackTraceLimit;
  afterEach(() => {
    Error.stackTraceLimit = limit;
  });

  it('a rejected forgery is a fresh WaTransportError with its code and message, and no stack frames', async () => {
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret });
    const core = await createEndpoint({ role: 'coreapp', secret });
    const forged = web.seal({ n: 1 });
    forged[forged.length - 1]! ^= 1;
    const caught = () => {
      try {
        core.openSync(forged);
      } catch (error) {
        return error;
      }
      throw new Error('accepted');
    };
    const first = caught();
    const second = caught();
    expect(isWaTransportError(first, ErrorCode.FORGED)).toBe(true);
    expect(first).toBeInstanceOf(Error);
    expect((first as Error).message).toBe('envelope failed authentication');
    expect(frames(first as Error)).toEqual([]);
    // A new instance each time: a caller that annotates one does not change the next.
    expect(second).not.toBe(first);
    (first as { extra?: number }).extra = 1;
    expect((second as { extra?: number }).extra).toBeUndefined();
    expect(Error.stackTraceLimit).toBe(limit);
  });

  it('every code a peer without the secret can cause is stackless; configuration errors keep their stack', () => {
    for (const code of [
      ErrorCode.MALFORMED,
      ErrorCode.TOO_LARGE,
      ErrorCode.UNSUPPORTED_VERSION,
      ErrorCode.WRONG_DIRECTION,
      ErrorCode.UNKNOWN_KEY,
      ErrorCode.FORGED,
      ErrorCode.EXPIRED,
      ErrorCode.FUTURE,
      ErrorCode.REPLAYED,
    ]) {
      expect(frames(new WaTransportError(code)), code).toEqual([]);
    }
    expect(frames(new WaTransportError(ErrorCode.CONFIG, 'x')).length).toBeGreaterThan(0);
    expect(frames(new WaTransportError(ErrorCode.WS_CLOSED)).length).toBeGreaterThan(0);
    expect(Error.stackTraceLimit).toBe(limit);
  });

  it('works, with stacks, where Error.stackTraceLimit cannot be written (frozen intrinsics)', () => {
    const descriptor = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit')!;
    Object.defineProperty(Error, 'stackTraceLimit', { ...descriptor, writable: false });
    try {
      const error = new WaTransportError(ErrorCode.FORGED);
      expect(error.code).toBe(ErrorCode.FORGED);
      expect(withoutStackTraces(() => 42)).toBe(42);
      expect(Error.stackTraceLimit).toBe(limit);
    } finally {
      Object.defineProperty(Error, 'stackTraceLimit', descriptor);
    }
  });

  it('withoutStackTraces restores the limit even when its function throws', () => {
    expect(() =>
      withoutStackTraces(() => {
        throw new Error('inner');
      }),
    ).toThrow('inner');
    expect(Error.stackTraceLimit).toBe(limit);
  });
});
