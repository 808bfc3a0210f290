/**
 * What an endpoint reports as it works, for metrics and clock-health tracking. Every field is
 * safe to export: codes, key ids, sizes and times, never payloads or keys.
 */
import type { ErrorCode } from './errors.js';

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

/** One observer that tells each of `observers` everything (e.g. `Metrics` and `ClockHealth`). */
export function combineObservers(...observers: EndpointObserver[]): EndpointObserver {
  return {
    sealed: (bytes) => observers.forEach((o) => o.sealed?.(bytes)),
    opened: (event) => observers.forEach((o) => o.opened?.(event)),
    rejected: (event) => observers.forEach((o) => o.rejected?.(event)),
  };
}
