/** Checks shared by every options object: a bad value is a configuration error naming the option. */
import { ErrorCode, WaTransportError } from './errors.js';

/** Node's timers hold at most 2^31 − 1 ms; a longer delay silently becomes 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must be a positive integer`);
  }
  return value;
}

export function nonNegativeInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must be a non-negative integer`);
  }
  return value;
}

/** A duration or a size that need not be whole; `max` bounds it (e.g. `MAX_TIMER_MS` for a timer). */
export function nonNegativeNumber(value: number, name: string, max = Number.POSITIVE_INFINITY): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= max) || value === Number.POSITIVE_INFINITY) {
    const bound = max === Number.POSITIVE_INFINITY ? '' : ` ≤ ${max}`;
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must be a non-negative number${bound}`);
  }
  return value;
}

/** A fraction strictly between 0 and 1. */
export function openFraction(value: number, name: string): number {
  if (typeof value !== 'number' || !(value > 0 && value < 1)) {
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must be a number in (0, 1)`);
  }
  return value;
}

/** A callback option, when given: anything else would fail only when it is first called. */
export function optionalFunction<F>(value: F | undefined, name: string): F | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must be a function`);
  }
  return value;
}

/** The options object itself: `undefined` and `null` would fail on the first property read. */
export function optionsObject<T>(value: T, name: string): T {
  if (typeof value !== 'object' || value === null) {
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must be an object`);
  }
  return value;
}

/** An endpoint option: what `createEndpoint` (or `RotatingEndpoint.create`) returned. */
export function endpointLike<E extends object>(value: E, name: string): E {
  const candidate = value as Partial<Record<'seal' | 'open', unknown>> | null | undefined;
  if (typeof candidate?.seal !== 'function' || typeof candidate.open !== 'function') {
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must be an endpoint from createEndpoint`);
  }
  return value;
}

/** Whether a `tls` option sets anything: an empty `{}` (a config with no TLS variables set) asks for nothing. */
export function asksForTls(tls: object | undefined): boolean {
  return typeof tls === 'object' && tls !== null && Object.values(tls).some((value) => value !== undefined);
}

/** A `pathPrefix` option: what a reverse proxy strips from the target (empty: none). */
export function pathPrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '') return '';
  if (typeof prefix !== 'string' || !/^\/[^?#]*[^/?#]$/.test(prefix)) {
    throw new WaTransportError(
      ErrorCode.CONFIG,
      'pathPrefix must start with "/", not end with "/", and hold no ? or #',
    );
  }
  return prefix;
}
