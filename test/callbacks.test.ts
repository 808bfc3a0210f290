import { describe, expect, it } from 'vitest';
import { CALLBACK_FAILED_EVENT, callSafely } from '../src/callbacks.js';
import { ErrorCode, type EndpointObserver, type Logger } from '../src/index.js';
import { combineObservers } from '../src/ops/index.js';
import { outcome, pair, recordingLogger, unhandledRejectionsDuring } from './helpers.js';

const failed = (callback: string) => expect.objectContaining({ event: CALLBACK_FAILED_EVENT, callback });

describe('callSafely', () => {
  it('logs and swallows a throw, by the error name only', () => {
    const logger = recordingLogger();
    const result = callSafely(logger, 'onThing', () => {
      throw new TypeError('card 4111 1111 1111 1111');
    });
    expect(result).toBeUndefined();
    expect(logger.records).toEqual([{ event: CALLBACK_FAILED_EVENT, callback: 'onThing', error: 'TypeError' }]);
  });

  it('logs a rejected promise, and returns a promise that resolves after it', async () => {
    const logger = recordingLogger();
    const unhandled = await unhandledRejectionsDuring(async () => {
      const result = callSafely(logger, 'onThing', async () => {
        throw new Error('late');
      });
      expect(result).toBeInstanceOf(Promise);
      await expect(result).resolves.toBeUndefined();
    });
    expect(unhandled).toEqual([]);
    expect(logger.records).toEqual([failed('onThing')]);
  });

  it('returns undefined for a callback that returns no promise, and never throws for a throwing logger', () => {
    expect(callSafely(recordingLogger(), 'onThing', () => 42)).toBeUndefined();
    const throwing: Logger = {
      warn() {
        throw new Error('logger down');
      },
      info() {},
    };
    expect(() =>
      callSafely(throwing, 'onThing', () => {
        throw new Error('x');
      }),
    ).not.toThrow();
  });
});

describe('endpoint observers', () => {
  const throwing: EndpointObserver = {
    sealed() {
      throw new Error('sealed');
    },
    opened() {
      throw new Error('opened');
    },
    rejected() {
      throw new Error('rejected');
    },
  };

  it('a throwing observer loses no message: open and openSync still return it', async () => {
    const logger = recordingLogger();
    const { web, core } = await pair({ observer: throwing, logger });
    const envelope = web.seal({ to: '+15550100' });
    await expect(core.open(envelope)).resolves.toMatchObject({ payload: { to: '+15550100' } });
    expect(core.openSync(web.seal(2)).payload).toBe(2);
    expect(logger.records).toContainEqual(failed('observer.sealed'));
    expect(logger.records).toContainEqual(failed('observer.opened'));
  });

  it('a throwing rejected observer leaves the rejection code intact', async () => {
    const logger = recordingLogger();
    const { web, core } = await pair({ observer: throwing, logger });
    const envelope = web.seal(1);
    await core.open(envelope);
    expect(await outcome(core.open(envelope))).toBe(ErrorCode.REPLAYED);
    expect(() => core.openSync(envelope)).toThrow(expect.objectContaining({ code: ErrorCode.REPLAYED }));
    expect(logger.records).toContainEqual(failed('observer.rejected'));
  });

  it('an async observer that rejects is logged, not an unhandled rejection', async () => {
    const logger = recordingLogger();
    const observer: EndpointObserver = { opened: async () => Promise.reject(new Error('metrics backend down')) };
    const { web, core } = await pair({ observer, logger });
    expect(await unhandledRejectionsDuring(() => core.open(web.seal(1)))).toEqual([]);
    expect(logger.records).toContainEqual(failed('observer.opened'));
  });

  it('combineObservers tells every observer even when one throws, then reports the failure', async () => {
    const logger = recordingLogger();
    const seen: string[] = [];
    const observer = combineObservers(throwing, {
      opened: () => seen.push('opened'),
      sealed: () => seen.push('sealed'),
    });
    const { web, core } = await pair({ observer, logger });
    await core.open(web.seal(1));
    expect(seen).toEqual(['sealed', 'opened']);
    expect(logger.records).toContainEqual(failed('observer.opened'));
  });

  it('combineObservers passes on a rejected promise of one observer', async () => {
    const logger = recordingLogger();
    const observer = combineObservers({ opened: async () => Promise.reject(new Error('down')) }, {});
    const { web, core } = await pair({ observer, logger });
    expect(await unhandledRejectionsDuring(() => core.open(web.seal(1)))).toEqual([]);
    expect(logger.records).toContainEqual(failed('observer.opened'));
  });
});
