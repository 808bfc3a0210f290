/**
 * The error of a refused HTTP exchange, the WebSocket upgrade included: shared by the HTTP
 * client and the WebSocket client, without loading either's transport (undici, ws).
 */
import { ErrorCode, WaTransportError } from '../errors.js';

/**
 * The request was refused, or its answer could not be opened. `status` is the HTTP status.
 *
 * - `sealed: true`: the CoreApp's own refusal, authenticated and bound to this request; `code`
 *   says why (the handler did not run for this attempt). ERR_WA_REPLAYED after a retry means an
 *   earlier attempt of the same request id was accepted and its answer was lost.
 * - `sealed: false`: ERR_WA_UNSEALED_RESPONSE for an answer that is not sealed (a refusal before
 *   authentication, a proxy's error page, or something forged on the path: `claimedCode` is
 *   what it claimed, unauthenticated); or the reason a sealed-looking answer failed to open.
 *
 * `mayHaveRun` says whether the request may have run, counting every attempt of the call that
 * threw (docs/http.md, "Exactly once in the end").
 */
export class HttpStatusError extends WaTransportError {
  readonly status: number;
  readonly sealed: boolean;
  /** For an unsealed answer: the code it claimed, if any. Not authenticated. */
  readonly claimedCode: string | undefined;
  /**
   * False only when every attempt of this call was refused by the CoreApp in a sealed answer
   * other than ERR_WA_REPLAYED: then none of them ran. True when one may have: an attempt that
   * ended without a sealed answer (a network failure, a timeout, an unsealed or unopenable
   * answer), or ERR_WA_REPLAYED (an attempt of this request id was accepted before).
   */
  readonly mayHaveRun: boolean;

  constructor(
    code: ErrorCode,
    status: number,
    detail: string,
    options: { sealed?: boolean; claimedCode?: string; mayHaveRun?: boolean } = {},
  ) {
    super(code, `${detail} (HTTP ${status})`);
    this.status = status;
    this.sealed = options.sealed ?? false;
    this.claimedCode = options.claimedCode;
    this.mayHaveRun = options.mayHaveRun ?? !(this.sealed && code !== ErrorCode.REPLAYED);
  }
}

/**
 * The error a call ends with, knowing whether an earlier attempt of it may have run: a sealed
 * refusal of the last attempt says nothing about an earlier one that timed out.
 */
export function afterAttempts(error: HttpStatusError, earlierMayHaveRun: boolean): HttpStatusError {
  if (!earlierMayHaveRun || error.mayHaveRun) return error;
  Object.defineProperty(error, 'mayHaveRun', { value: true, enumerable: true });
  return error;
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * An answer the peer did not seal: never believed, never retried. Its `{ "error": code }`
 * (PROTOCOL §8.1, §8.2) is kept as `claimedCode` when it names a known code: it tells a wrong
 * secret (ERR_WA_UNKNOWN_KEY, ERR_WA_FORGED) from a sealed, authenticated refusal such as a
 * clock difference, though anyone on the path could have written it.
 */
export function unsealedAnswer(
  status: number,
  bytes: Uint8Array,
  what = 'answer',
  hints: Partial<Record<ErrorCode, string>> = {},
): HttpStatusError {
  let claimed: unknown;
  try {
    claimed = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { error?: unknown }).error;
  } catch {
    claimed = undefined;
  }
  const claimedCode = typeof claimed === 'string' && KNOWN_CODES.has(claimed) ? claimed : undefined;
  const hint = claimedCode === undefined ? undefined : hints[claimedCode as ErrorCode];
  const detail =
    claimedCode === undefined
      ? `${what} is not sealed`
      : `${what} is not sealed; it claims ${claimedCode}${hint === undefined ? '' : ` (${hint})`}`;
  return new HttpStatusError(
    ErrorCode.UNSEALED_RESPONSE,
    status,
    detail,
    claimedCode === undefined ? {} : { claimedCode },
  );
}
