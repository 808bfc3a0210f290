/**
 * `wa-transport/protocol`: the wire, for tools and second implementations (docs/PROTOCOL.md).
 * The envelope's layout and header reader, the limits and defaults the spec names, and the
 * contexts and header names of the HTTP and WebSocket bindings. Loads no transport (no ws,
 * no undici): what is here is data and pure functions.
 */

export {
  Direction,
  PayloadFormat,
  HEADER_BYTES,
  TAG_BYTES,
  MIN_ENVELOPE_BYTES,
  readHeader,
} from './envelope/format.js';
export type { EnvelopeHeader } from './envelope/format.js';
export { MAX_DEPTH } from './payload.js';
export { DEFAULT_WINDOW_MS, DEFAULT_MAX_SKEW_MS } from './defaults.js';
export { MIN_SECRET_BYTES } from './keys.js';

// HTTP binding (docs/PROTOCOL.md §8.1).
export {
  ENVELOPE_CONTENT_TYPE,
  ENVELOPE_HEADER,
  REJECTION_HEADER,
  REJECTION_STATUS,
  REQUEST_ID_HEADER,
  rejectionContext,
  requestContext,
  responseContext,
} from './transport/http-binding.js';

// WebSocket binding (docs/PROTOCOL.md §8.2).
export {
  WsCloseCode,
  HELLO_HEADER,
  helloContext,
  helloRefusalContext,
  welcomeContext,
  frameContext,
} from './transport/ws-protocol.js';
export type { FrameDirection } from './transport/ws-protocol.js';
