/**
 * Every rejection and every misconfiguration ends in a `WaTransportError` whose `code` is one
 * of `ErrorCode`. Callers switch on `code`; messages are fixed per code so that an attacker
 * learns nothing from them beyond the code itself (the model is panva/jose's `errors.ts`).
 */
export const ErrorCode = {
  /** Not an envelope: wrong type, empty, truncated, bad text encoding, an unknown header value. */
  MALFORMED: 'ERR_WA_MALFORMED',
  /** The version byte names a protocol version this build does not speak. */
  UNSUPPORTED_VERSION: 'ERR_WA_UNSUPPORTED_VERSION',
  /** The key id matches none of the configured secrets (e.g. a secret removed after rotation). */
  UNKNOWN_KEY: 'ERR_WA_UNKNOWN_KEY',
  /** Sealed for the other direction: a message reflected back to its sender. */
  WRONG_DIRECTION: 'ERR_WA_WRONG_DIRECTION',
  /** Authentication failed: tampered bytes, wrong secret, or wrong context (route, channel). */
  FORGED: 'ERR_WA_FORGED',
  /** Authentic, but its timestamp is older than the replay window. */
  EXPIRED: 'ERR_WA_EXPIRED',
  /** Authentic, but its timestamp is further ahead than the allowed clock skew. */
  FUTURE: 'ERR_WA_FUTURE',
  /** Authentic and fresh, but its nonce was already accepted: a replay. */
  REPLAYED: 'ERR_WA_REPLAYED',
  /** Larger than the configured envelope size limit. */
  TOO_LARGE: 'ERR_WA_TOO_LARGE',
  /** The replay cache reached its entry cap; it refuses rather than forget nonces. */
  REPLAY_CACHE_FULL: 'ERR_WA_REPLAY_CACHE_FULL',
  /** The replay store could not be asked (e.g. Redis down); nothing is accepted unchecked. */
  REPLAY_STORE_UNAVAILABLE: 'ERR_WA_REPLAY_STORE_UNAVAILABLE',
  /** Authentic, but the payload is not acceptable msgpack (hostile or unsupported types). */
  PAYLOAD: 'ERR_WA_PAYLOAD',
  /** The secret is too short or too patterned to resist offline guessing. */
  WEAK_SECRET: 'ERR_WA_WEAK_SECRET',
  /** An option or environment variable has a value that cannot be used. */
  CONFIG: 'ERR_WA_CONFIG',
  /** A WebSocket send with no open channel (closed, or between reconnects). Nothing was sent. */
  WS_CLOSED: 'ERR_WA_WS_CLOSED',
  /** A WebSocket send while the peer is not reading (send buffer full). Nothing was sent. */
  WS_BACKPRESSURE: 'ERR_WA_WS_BACKPRESSURE',
  /**
   * An answer that is not sealed by the CoreApp: a refusal before authentication, or anything a
   * proxy or an attacker on the path made up. It is never retried automatically.
   */
  UNSEALED_RESPONSE: 'ERR_WA_UNSEALED_RESPONSE',
  /** A request body that did not arrive within the receiver's body deadline. */
  BODY_TIMEOUT: 'ERR_WA_BODY_TIMEOUT',
  /** The receiver holds as many unauthenticated bytes (or pending upgrades) as it allows. */
  OVERLOADED: 'ERR_WA_OVERLOADED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Fixed messages: rejection messages never carry attacker-controlled or secret detail. */
const MESSAGES: Record<ErrorCode, string> = {
  ERR_WA_MALFORMED: 'envelope is malformed',
  ERR_WA_UNSUPPORTED_VERSION: 'envelope version is not supported',
  ERR_WA_UNKNOWN_KEY: 'envelope was sealed with a secret that is not configured',
  ERR_WA_WRONG_DIRECTION: 'envelope was sealed for the other direction',
  ERR_WA_FORGED: 'envelope failed authentication',
  ERR_WA_EXPIRED: 'envelope is older than the replay window',
  ERR_WA_FUTURE: 'envelope timestamp is too far in the future',
  ERR_WA_REPLAYED: 'envelope was already accepted once',
  ERR_WA_TOO_LARGE: 'envelope exceeds the size limit',
  ERR_WA_REPLAY_CACHE_FULL: 'replay cache is full',
  ERR_WA_REPLAY_STORE_UNAVAILABLE: 'replay store is unavailable',
  ERR_WA_PAYLOAD: 'payload is not acceptable',
  ERR_WA_WEAK_SECRET: 'secret is too weak',
  ERR_WA_CONFIG: 'invalid configuration',
  ERR_WA_WS_CLOSED: 'channel is not open',
  ERR_WA_WS_BACKPRESSURE: 'send buffer is full; await earlier sends',
  ERR_WA_UNSEALED_RESPONSE: 'the answer is not sealed by the CoreApp',
  ERR_WA_BODY_TIMEOUT: 'request body did not arrive in time',
  ERR_WA_OVERLOADED: 'too much unauthenticated input in flight; try again later',
};

/**
 * Rejections that anyone can cause at will without the secret: noise, forgeries, reflections,
 * replays of captured traffic. Their errors carry no stack trace. Why: capturing one cost
 * 2.3 µs here (`new Error` 2.63 µs, 0.35 µs with `Error.stackTraceLimit = 0`), nearly what a
 * whole valid 64-byte open costs, so a flood of forgeries cost more than real traffic
 * (issue 11, bench/rejection.ts); and the stack would only name wa-transport's own checks, which
 * the code already names. Node's own internal errors use the same trick. Every error is still
 * a new instance: callers may annotate or mutate the one they get.
 */
const STACKLESS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.MALFORMED,
  ErrorCode.TOO_LARGE,
  ErrorCode.UNSUPPORTED_VERSION,
  ErrorCode.WRONG_DIRECTION,
  ErrorCode.UNKNOWN_KEY,
  ErrorCode.FORGED,
  ErrorCode.EXPIRED,
  ErrorCode.FUTURE,
  ErrorCode.REPLAYED,
]);

/** Sets `Error.stackTraceLimit`; false when it cannot be set (frozen intrinsics). */
function setStackTraceLimit(limit: number): boolean {
  try {
    Error.stackTraceLimit = limit;
    return Error.stackTraceLimit === limit;
  } catch {
    return false;
  }
}

/** Runs `fn` with stack traces off, for code that throws (and catches) errors in bulk. */
export function withoutStackTraces<T>(fn: () => T): T {
  const limit = Error.stackTraceLimit;
  if (!setStackTraceLimit(0)) return fn();
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export class WaTransportError extends Error {
  declare readonly name: string;
  readonly code: ErrorCode;

  /**
   * @param detail appended to the fixed message; only for values that are safe to show
   *   (a key id, an option name), never key material, plaintext or raw input.
   */
  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    const limit = Error.stackTraceLimit;
    const stackless = STACKLESS.has(code) && setStackTraceLimit(0);
    // Error's constructor cannot throw here (a string message, our own options object), so
    // the limit is always restored.
    super(detail === undefined ? MESSAGES[code] : `${MESSAGES[code]}: ${detail}`, options);
    if (stackless) Error.stackTraceLimit = limit;
    this.code = code;
  }
}

// On the prototype, as Error's own `name` is, rather than defined on every instance: one
// property definition less per rejection, in the path a flood of forgeries takes.
Object.defineProperty(WaTransportError.prototype, 'name', {
  value: 'WaTransportError',
  writable: true,
  configurable: true,
});

export function isWaTransportError(value: unknown, code?: ErrorCode): value is WaTransportError {
  return value instanceof WaTransportError && (code === undefined || value.code === code);
}

/**
 * Rejections that can only happen once the envelope has been authenticated (docs/PROTOCOL.md
 * §6, "authenticated?"): the receiver may answer them sealed, bound to the request, so that the
 * sender can tell its peer's refusal from one made up on the path.
 */
const AFTER_AUTHENTICATION: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.EXPIRED,
  ErrorCode.FUTURE,
  ErrorCode.REPLAYED,
  ErrorCode.REPLAY_CACHE_FULL,
  ErrorCode.REPLAY_STORE_UNAVAILABLE,
  ErrorCode.PAYLOAD,
]);

export function isAfterAuthentication(code: ErrorCode): boolean {
  return AFTER_AUTHENTICATION.has(code);
}
