/**
 * What an endpoint reports as it works, for metrics and clock-health tracking. Every field is
 * safe to export: codes, key ids, sizes and times, never payloads or keys.
 */
import { isPromiseLike } from './callbacks.js';
import type { ErrorCode } from './errors.js';
import type { Logger } from './log.js';

/**
 * How an endpoint offers its logger to an observer made before it and given none (`Metrics`,
 * `ClockHealth`): they are passed to `createEndpoint`, so they cannot borrow its logger when
 * they are built. A symbol, not a method name: it is no part of what users implement.
 */
export const TAKE_ENDPOINT_LOGGER: unique symbol = Symbol('wa-transport.takeEndpointLogger');

/** An observer that can take the endpoint's logger. */
export interface TakesEndpointLogger {
  [TAKE_ENDPOINT_LOGGER]?(logger: Logger): void;
}

/** Offers `logger` to `observer` if it takes one. Never throws into the endpoint's constructor. */
export function offerLogger(observer: EndpointObserver | undefined, logger: Logger): void {
  try {
    (observer as TakesEndpointLogger | undefined)?.[TAKE_ENDPOINT_LOGGER]?.(logger);
  } catch {
    // An observer's own business; the endpoint works without it.
  }
}

export interface OpenedEvent {
  readonly keyId: string;
  /** Envelope timestamp minus the verifier's clock, in ms: > 0 when the peer's clock is ahead. */
  readonly skewMs: number;
  /** Time spent waiting for the replay store, in ms. */
  readonly storeMs: number;
}

export interface RejectedEvent {
  readonly code: ErrorCode;
  /** Present once the envelope's header could be read (unauthenticated unless the code says so). */
  readonly keyId?: string | undefined;
  /** Present for ERR_WA_EXPIRED / ERR_WA_FUTURE / ERR_WA_REPLAYED: authenticated skew, as in `OpenedEvent`. */
  readonly skewMs?: number | undefined;
  readonly peer?: string | undefined;
}

export interface EndpointObserver {
  sealed?(bytes: number): void;
  opened?(event: OpenedEvent): void;
  rejected?(event: RejectedEvent): void;
}

/**
 * One observer that tells each of `observers` everything (e.g. `Metrics` and `ClockHealth`).
 * One that throws does not keep the others from being told: the first error is rethrown after
 * all have run, and returned promises are passed on, for the endpoint to report
 * (`callSafely`).
 */
export function combineObservers(...observers: EndpointObserver[]): EndpointObserver {
  const combined: EndpointObserver & TakesEndpointLogger = {
    sealed: (bytes) => tellEach(observers, (o) => o.sealed?.(bytes)),
    opened: (event) => tellEach(observers, (o) => o.opened?.(event)),
    rejected: (event) => tellEach(observers, (o) => o.rejected?.(event)),
    [TAKE_ENDPOINT_LOGGER]: (logger) => {
      for (const observer of observers) offerLogger(observer, logger);
    },
  };
  return combined;
}

function tellEach(
  observers: EndpointObserver[],
  tell: (observer: EndpointObserver) => unknown,
): Promise<unknown> | undefined {
  let thrown: { error: unknown } | undefined;
  const pending: Array<PromiseLike<unknown>> = [];
  for (const observer of observers) {
    try {
      const result = tell(observer);
      if (isPromiseLike(result)) pending.push(result);
    } catch (error) {
      thrown ??= { error };
    }
  }
  const settled = pending.length === 0 ? undefined : Promise.all(pending);
  if (thrown === undefined) return settled;
  settled?.catch(() => {}); // the synchronous failure is the one reported
  throw thrown.error;
}
