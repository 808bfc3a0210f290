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
 */
export class HttpStatusError extends WaTransportError {
  readonly status: number;
  readonly sealed: boolean;
  /** For an unsealed answer: the code it claimed, if any. Not authenticated. */
  readonly claimedCode: string | undefined;

  constructor(
    code: ErrorCode,
    status: number,
    detail: string,
    options: { sealed?: boolean; claimedCode?: string } = {},
  ) {
    super(code, `${detail} (HTTP ${status})`);
    this.status = status;
    this.sealed = options.sealed ?? false;
    this.claimedCode = options.claimedCode;
  }
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
