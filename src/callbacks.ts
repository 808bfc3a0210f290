/**
 * User callbacks (observers, hooks, alerts) run in the middle of the library's own work: an
 * observer inside `Endpoint.open` after the nonce is recorded, a WebSocket hook inside the
 * chain that opens frames in order. A callback that throws there would break a promise the
 * library made (a message accepted is delivered; later frames are still read), and one that
 * returns a rejected promise would crash the process with an unhandled rejection. pino keeps
 * its hooks off the hot path's failure modes the same way: they can fail, the caller cannot.
 */
import type { Logger } from './log.js';

/** The one log event every failed callback produces, with the callback's name in `callback`. */
export const CALLBACK_FAILED_EVENT = 'wa_transport.callback_failed';

/**
 * Runs `call` (a thunk that invokes one user callback) so that it cannot fail the caller: a
 * synchronous throw, or a returned promise that rejects, is logged to `logger` as
 * `wa_transport.callback_failed` with `callback` and the error's name, and swallowed. Only
 * the name is logged: a message may quote the payload. Never throws, even if `logger` does.
 *
 * Returns a promise that settles (never rejects) when the callback returned one, so a caller
 * that must wait for it (a WebSocket `onMessage` holds back the next frame) can await it;
 * otherwise undefined, with no allocation beyond the thunk.
 *
 *   callSafely(logger, 'observer.opened', () => observer.opened?.(event));
 *   await callSafely(logger, 'onHandlerError', () => options.onHandlerError?.(error, request));
 */
export function callSafely(
  logger: Pick<Logger, 'warn'>,
  callback: string,
  call: () => unknown,
): Promise<void> | undefined {
  let result: unknown;
  try {
    result = call();
  } catch (error) {
    report(logger, callback, error);
    return undefined;
  }
  if (!isPromiseLike(result)) return undefined;
  return Promise.resolve(result).then(
    () => undefined,
    (error: unknown) => report(logger, callback, error),
  );
}

export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function report(logger: Pick<Logger, 'warn'>, callback: string, error: unknown): void {
  try {
    logger.warn(
      { event: CALLBACK_FAILED_EVENT, callback, error: error instanceof Error ? error.name : typeof error },
      'callback failed',
    );
  } catch {
    // A logger that throws has nowhere left to report to.
  }
}
