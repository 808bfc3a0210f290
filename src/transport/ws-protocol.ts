/**
 * The WebSocket channel's contract: the hello header, the authenticated contexts each envelope
 * is bound to, and the close codes. Both sides and the tests read these from here only.
 *
 * Contexts are authenticated but never sent (see `SealOptions.context`), so an attacker who
 * moves a frame to another slot, another connection or another path makes it fail
 * authentication: the sequence number costs no bytes on the wire and cannot be probed.
 */
import { ErrorCode, type WaTransportError } from '../errors.js';

/** Request header carrying the client's sealed hello, in the envelope's text form. */
export const HELLO_HEADER = 'wa-hello';
/**
 * Request header carrying the hello's request id (PROTOCOL §4.4): the same on every attempt to
 * open one connection, so a hello refused and presented again later opens nothing once
 * another attempt of the same connection has.
 */
export const HELLO_REQUEST_ID_HEADER = 'wa-request-id';
/** Response header of an upgrade refused after authentication: the body is a sealed refusal. */
export const HELLO_REJECTION_HEADER = 'wa-rejection';

/** Prefix of every context: names the channel protocol and its version. */
const PROTOCOL = 'wa-ws/1';

/** Which way a frame travels: client → server or server → client. */
export type FrameDirection = 'c2s' | 's2c';

/** The hello is bound to the request target (path and query), so it opens no other endpoint. */
export function helloContext(target: string): string {
  return `${PROTOCOL}:hello:${target}`;
}

/**
 * An upgrade refused after the hello authenticated: `{ error: code }` sealed CoreApp → WebApp,
 * bound to the hello (its connection id) and the HTTP status, so the client can tell the
 * server's own refusal from one made up on the path.
 */
export function helloRefusalContext(connectionId: string, status: number): string {
  return `${PROTOCOL}:${connectionId}:refused:${status}`;
}

/** The server's first frame, proving to the client that the server holds the secret too. */
export function welcomeContext(connectionId: string): string {
  return `${PROTOCOL}:${connectionId}:welcome`;
}

/** Data frame number `seq` (from 0, per direction) of connection `connectionId`. */
export function frameContext(connectionId: string, direction: FrameDirection, seq: number): string {
  return `${PROTOCOL}:${connectionId}:${direction}:${seq}`;
}

const encoder = new TextEncoder();
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/**
 * `frameContext`'s bytes for each frame of one direction of a channel, in one array rewritten
 * in place: everything before the sequence number is encoded once, and `advance` adds one to
 * the decimal digits where they lie. Encoding the whole string per frame was 3.3% of a sealed
 * 64-byte WebSocket message, and a new array per frame (after the prefix was kept) still cost
 * an allocation on both sides of every frame (bench/RESULTS.md, "WebSocket at 64 B"). The same
 * bytes as `frameContext` (test/transport/ws-protocol.test.ts).
 *
 * `bytes` is valid until the next `advance`: the channel hands it to `seal` or `open`, which
 * read it before they return (src/envelope/context.ts), and advances only afterwards.
 */
export class FrameContextSequence {
  /** The context of the current frame; a new array only when the number gains a digit. */
  bytes: Uint8Array;

  constructor(connectionId: string, direction: FrameDirection) {
    this.bytes = encoder.encode(frameContext(connectionId, direction, 0));
  }

  /** Moves to the next frame's context. */
  advance(): void {
    const bytes = this.bytes;
    for (let at = bytes.length - 1; ; at--) {
      const digit = bytes[at]!;
      if (digit === DIGIT_9) {
        bytes[at] = DIGIT_0;
      } else if (digit >= DIGIT_0 && digit < DIGIT_9) {
        bytes[at] = digit + 1;
        return;
      } else {
        // Every digit was a 9: the number gains one, "1" followed by the zeros just written.
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes.subarray(0, at + 1), 0);
        longer[at + 1] = DIGIT_0 + 1;
        longer.set(bytes.subarray(at + 1), at + 2);
        this.bytes = longer;
        return;
      }
    }
  }
}

/**
 * Close codes. 1000–1015 are RFC 6455 §7.4.1's; 4000–4999 are private-use (§7.4.2).
 * A channel that rejects a frame closes at once: the sequence is broken, nothing after it
 * can be trusted to be in order.
 */
export const WsCloseCode = {
  /** Closed by either side's `close()`. */
  NORMAL: 1000,
  /** The server is shutting down (`WsServer.close`). */
  GOING_AWAY: 1001,
  /** A text frame: every frame must be a binary envelope. */
  UNSUPPORTED_DATA: 1003,
  /** A frame that breaks RFC 6455 itself (bad opcode, masking, reserved bits): ws refuses it. */
  PROTOCOL_ERROR: 1002,
  /** No close frame: the connection dropped, or a dead peer was terminated (no pong). Never sent. */
  ABNORMAL: 1006,
  /** A text frame that is not UTF-8: ws refuses it before the channel sees it. */
  INVALID_DATA: 1007,
  /** A message in too many fragments or buffered parts (ws's own limits). */
  POLICY_VIOLATION: 1008,
  /** A frame larger than the endpoint's `maxEnvelopeBytes` (ws's `maxPayload`). */
  TOO_LARGE: 1009,
  /** The replay store is unavailable or full: nothing is accepted unchecked; retry later. */
  TRY_AGAIN_LATER: 1013,
  /** Authentication failed: hello refused (surfaced for an HTTP 401), or the server's welcome did not open. */
  AUTH_FAILED: 4001,
  /** Not an envelope (truncated, unknown version) or a payload that does not decode. */
  MALFORMED: 4002,
  /**
   * Not authentic for the next slot of this connection: reordered, dropped, repeated, taken from
   * another connection, tampered, wrong secret or reflected. These are indistinguishable by design.
   */
  OUT_OF_SEQUENCE: 4003,
  /** A nonce seen before (not expected in practice: a repeated frame fails its sequence first). */
  REPLAYED: 4004,
  /** Outside the time window: older than `windowMs` or further ahead than `maxSkewMs`. */
  STALE: 4005,
} as const;
export type WsCloseCode = (typeof WsCloseCode)[keyof typeof WsCloseCode];

/** The close code for a frame the endpoint rejected. */
export function closeCodeFor(error: WaTransportError): WsCloseCode {
  switch (error.code) {
    case ErrorCode.FORGED:
    case ErrorCode.UNKNOWN_KEY:
    case ErrorCode.WRONG_DIRECTION:
      return WsCloseCode.OUT_OF_SEQUENCE;
    case ErrorCode.EXPIRED:
    case ErrorCode.FUTURE:
      return WsCloseCode.STALE;
    case ErrorCode.REPLAYED:
      return WsCloseCode.REPLAYED;
    case ErrorCode.TOO_LARGE:
      return WsCloseCode.TOO_LARGE;
    case ErrorCode.REPLAY_CACHE_FULL:
    case ErrorCode.REPLAY_STORE_UNAVAILABLE:
      return WsCloseCode.TRY_AGAIN_LATER;
    default:
      return WsCloseCode.MALFORMED;
  }
}

/**
 * The close code ws sends when its receiver refuses a frame, by the error's `code` (ws 8.23
 * lib/receiver.js; every other WS_ERR_* is 1002). ws then stops reading, so it never sees the peer's reply and its own
 * 'close' event says 1006; the channel reports the code that was actually sent.
 */
const WS_RECEIVER_CLOSE_CODES: Readonly<Record<string, WsCloseCode>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: WsCloseCode.TOO_LARGE,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: WsCloseCode.TOO_LARGE,
  WS_ERR_INVALID_UTF8: WsCloseCode.INVALID_DATA,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: WsCloseCode.POLICY_VIOLATION,
};

/** The close code ws sent for one of its receiver's errors; undefined for any other error. */
export function closeCodeForWsError(code: unknown): WsCloseCode | undefined {
  if (typeof code !== 'string' || !code.startsWith('WS_ERR_')) return undefined;
  return Object.hasOwn(WS_RECEIVER_CLOSE_CODES, code) ? WS_RECEIVER_CLOSE_CODES[code] : WsCloseCode.PROTOCOL_ERROR;
}

/** HTTP status for a refused hello: 503 when the replay store could not answer, else 401. */
export function helloStatusFor(error: WaTransportError): 401 | 503 {
  return error.code === ErrorCode.REPLAY_CACHE_FULL || error.code === ErrorCode.REPLAY_STORE_UNAVAILABLE ? 503 : 401;
}
