/**
 * One authenticated WebSocket connection, on either side: every frame is an envelope sealed
 * for the next slot of its direction (`frameContext`), opened strictly in order; the first
 * frame that fails closes the connection with a `WsCloseCode`.
 *
 * Flow control, both ways, with nothing unbounded:
 * - sending: `send` resolves once ws has written the frame to the socket, so a sender that
 *   awaits it goes at the peer's pace; a `send` made while more than `maxBufferedBytes` are
 *   still buffered rejects with ERR_WA_WS_BACKPRESSURE instead of queueing.
 * - receiving: frames are opened and handed to `onMessage` one at a time (a returned promise
 *   is awaited); once `maxBufferedBytes` of frames wait, the socket stops being read, so TCP
 *   pushes back on the sender.
 */
import { inspect } from 'node:util';
import { callSafely } from '../callbacks.js';
import { type EndpointLike, type Opened, openPayload, openerOf } from '../endpoint.js';
import { type ErrorCode, WaTransportError, isWaTransportError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  type FrameDirection,
  FrameContextSequence,
  WsCloseCode,
  closeCodeFor,
  closeCodeForWsError,
  welcomeContext,
} from './ws-protocol.js';

/** Most bytes buffered per direction before `send` rejects and reading pauses: 1 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;
/** A ping every 30 s; a peer that has not answered by the next one is terminated. */
export const DEFAULT_HEARTBEAT_MS = 30_000;

export type WsChannelErrorCode = typeof ErrorCode.WS_CLOSED | typeof ErrorCode.WS_BACKPRESSURE;

/** Why a `send` was refused. Nothing was sent, and the channel's sequence is unchanged. */
export class WsChannelError extends WaTransportError {
  override readonly name: string = 'WsChannelError';
  declare readonly code: WsChannelErrorCode;

  constructor(code: WsChannelErrorCode, options?: { cause?: unknown }) {
    super(code, undefined, options);
  }
}

export interface WsCloseEvent {
  /** A `WsCloseCode`, or whatever valid code the peer sent. */
  readonly code: number;
  /** Short and fixed: an error code or empty, never payload or key material. */
  readonly reason: string;
}

/** What the client and server tell a channel to call. */
export interface ChannelHooks {
  onOpen?(channel: WsChannel): void;
  onMessage?(payload: unknown, channel: WsChannel): void | Promise<void>;
  onClose?(channel: WsChannel, event: WsCloseEvent): void;
}

export interface ChannelOptions {
  endpoint: EndpointLike;
  /** The hello's nonce, base64url: binds every frame to this connection. */
  id: string;
  side: 'client' | 'server';
  peer?: string | undefined;
  maxBufferedBytes: number;
  heartbeatMs: number;
  /** Client only: how long to wait for the server's welcome. */
  welcomeTimeoutMs?: number;
  logger: Logger;
  hooks: ChannelHooks;
}

type State = 'welcoming' | 'open' | 'closing' | 'closed';

/** ws's send options for every frame: one object, not one per frame (ws copies it). */
const BINARY = { binary: true } as const;

/** A message as ws delivers it (its `RawData`). */
type RawData = Buffer | ArrayBuffer | Buffer[];

/**
 * The part of ws's `WebSocket` a channel uses. Written out so that the published types need no
 * `@types/ws`: users of this module never touch a ws object, and would otherwise need it for
 * TypeScript to read these declarations (TS7016 with skipLibCheck off). ws-server.ts and
 * ws-client.ts pass real ws sockets here, so tsc checks this against @types/ws on every build.
 */
export interface ChannelSocket {
  readonly readyState: number;
  readonly OPEN: number;
  readonly bufferedAmount: number;
  readonly isPaused: boolean;
  send(data: Uint8Array, options: { binary: boolean }, callback?: (error?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(): void;
  pause(): void;
  resume(): void;
  on(event: 'message', listener: (data: RawData, isBinary: boolean) => void): unknown;
  on(event: 'pong', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error & { code?: unknown }) => void): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
}

export class WsChannel {
  /** Connection id: the hello's nonce, base64url. Public; safe to log. */
  readonly id: string;
  /** The peer's address, for logs. */
  readonly peer: string | undefined;
  readonly side: 'client' | 'server';
  readonly #ws: ChannelSocket;
  readonly #endpoint: EndpointLike;
  /** The next frame's context, each direction. */
  readonly #outbound: FrameContextSequence;
  readonly #inbound: FrameContextSequence;
  /**
   * The options of every `seal` and every `open` of a data frame, kept and updated in place
   * with the context rather than built per frame, like the contexts themselves.
   */
  readonly #sealOptions: { context: Uint8Array };
  readonly #openOptions: { context: Uint8Array; peer: string };
  /** For rejection logs; built once, not per frame. */
  readonly #peerLabel: string;
  /** Frames received and not yet handled: when there are none, the next is handled without a promise chain. */
  #unhandled = 0;
  readonly #maxBufferedBytes: number;
  readonly #logger: Logger;
  readonly #hooks: ChannelHooks;
  #state: State;
  /** Frames received and not yet handled: they are opened strictly in order. */
  #inbox: Promise<void> = Promise.resolve();
  #inboxBytes = 0;
  /** Set by the first rejected frame: nothing after it is opened. */
  #failed = false;
  #alive = true;
  #heartbeat: NodeJS.Timeout | undefined;
  #welcomeTimer: NodeJS.Timeout | undefined;
  /** The code ws sent when it refused a frame itself (too large, not RFC 6455). */
  #wsCloseCode: number | undefined;
  /**
   * User callbacks run through `callSafely`: one that throws must not break the inbox chain,
   * which would skip every later frame. Failures are logged like the channel's other events.
   */
  readonly #callbackLogger: Pick<Logger, 'warn'> = {
    warn: (record) =>
      this.#logger.warn({ connection: this.id, peer: this.peer, side: this.side, ...record }, 'websocket'),
  };
  #settle: (event: WsCloseEvent) => void = () => {};
  /** Settles when the connection is closed, before `onClose` runs (which waits for the handler). */
  readonly closed: Promise<WsCloseEvent> = new Promise((resolve) => {
    this.#settle = resolve;
  });

  /** Created by `WsServer` and `WsClient`; not by users. */
  constructor(ws: ChannelSocket, options: ChannelOptions) {
    this.#ws = ws;
    this.id = options.id;
    this.peer = options.peer;
    this.side = options.side;
    this.#endpoint = options.endpoint;
    const [outbound, inbound]: FrameDirection[] = options.side === 'client' ? ['c2s', 's2c'] : ['s2c', 'c2s'];
    this.#outbound = new FrameContextSequence(this.id, outbound!);
    this.#inbound = new FrameContextSequence(this.id, inbound!);
    this.#peerLabel = this.peer === undefined ? `ws:${this.id}` : `${this.peer} ws:${this.id}`;
    this.#sealOptions = { context: this.#outbound.bytes };
    this.#openOptions = { context: this.#inbound.bytes, peer: this.#peerLabel };
    this.#maxBufferedBytes = options.maxBufferedBytes;
    this.#logger = options.logger;
    this.#hooks = options.hooks;

    ws.on('message', (data, isBinary) => this.#onFrame(data, isBinary));
    ws.on('pong', () => {
      this.#alive = true;
    });
    ws.on('error', (error: Error & { code?: unknown }) => {
      // ws closes the socket itself after an error (with 1002/1007/1008/1009 when it can send one).
      this.#wsCloseCode ??= closeCodeForWsError(error.code);
      // ws's and the socket's messages name the fault (frame, address), never frame content.
      this.#log('wa_transport.ws.error', {
        errorCode: typeof error.code === 'string' ? error.code : error.name,
        errorMessage: error.message,
      });
    });
    ws.on('close', (code, reason) => this.#onClose(code, reason.toString()));

    if (options.heartbeatMs > 0) {
      this.#heartbeat = setInterval(() => this.#beat(), options.heartbeatMs).unref();
    }
    if (options.side === 'server') {
      this.#state = 'open';
      ws.send(this.#endpoint.seal(new Uint8Array(0), { context: welcomeContext(this.id) }), { binary: true });
    } else {
      this.#state = 'welcoming';
      this.#welcomeTimer = setTimeout(
        () => this.#fail(WsCloseCode.AUTH_FAILED, 'welcome timeout'),
        options.welcomeTimeoutMs ?? 10_000,
      ).unref();
    }
  }

  /** True once both sides are authenticated and until the channel starts closing. */
  get isOpen(): boolean {
    // ws moves to CLOSING when the peer's close frame arrives, before our 'close' event.
    return this.#state === 'open' && this.#ws.readyState === this.#ws.OPEN;
  }

  /** Bytes handed to ws and not yet written to the socket. */
  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /**
   * Seals `payload` as the next frame and sends it. Resolves once it is written to the socket.
   * Rejects with `WsChannelError` (ERR_WA_WS_CLOSED, ERR_WA_WS_BACKPRESSURE) or, for a payload
   * the endpoint refuses to seal, its `WaTransportError` (e.g. ERR_WA_TOO_LARGE); in every
   * rejection nothing was sent and the channel stays usable if it was.
   */
  send(payload: unknown): Promise<void> {
    if (!this.isOpen) return Promise.reject(new WsChannelError('ERR_WA_WS_CLOSED'));
    // Refused before sealing: a sender that ignores back-pressure should cost nothing per try.
    if (this.#ws.bufferedAmount >= this.#maxBufferedBytes) {
      return Promise.reject(new WsChannelError('ERR_WA_WS_BACKPRESSURE'));
    }
    let frame: Uint8Array;
    try {
      frame = this.#endpoint.seal(payload, this.#sealOptions);
    } catch (error) {
      return Promise.reject(error);
    }
    // A frame larger than the limit may still go out alone, or it could never be sent.
    const buffered = this.#ws.bufferedAmount;
    if (buffered > 0 && buffered + frame.length > this.#maxBufferedBytes) {
      return Promise.reject(new WsChannelError('ERR_WA_WS_BACKPRESSURE'));
    }
    this.#outbound.advance();
    this.#sealOptions.context = this.#outbound.bytes;
    return new Promise((resolve, reject) => {
      this.#ws.send(frame, BINARY, (error) => {
        if (error) reject(new WsChannelError('ERR_WA_WS_CLOSED', { cause: error }));
        else resolve();
      });
    });
  }

  /** Starts the closing handshake (RFC 6455 §7.1.2). Frames already received are still handled. */
  close(code: number = WsCloseCode.NORMAL, reason = ''): void {
    if (this.#state === 'closed') return;
    this.#state = 'closing';
    this.#ws.close(code, reason);
  }

  /** Drops the connection without a closing handshake. */
  terminate(): void {
    this.#ws.terminate();
  }

  #onFrame(data: RawData, isBinary: boolean): void {
    if (this.#failed) return;
    if (!isBinary) {
      this.#fail(WsCloseCode.UNSUPPORTED_DATA, 'binary frames only');
      return;
    }
    const frame = toBytes(data);
    this.#inboxBytes += frame.length;
    if (this.#inboxBytes > this.#maxBufferedBytes && !this.#ws.isPaused) this.#ws.pause();
    // Strictly in order: a frame waits for the one before it, but only if that one is not done.
    if (this.#unhandled++ === 0) {
      const pending = this.#receive(frame);
      if (pending !== undefined) this.#inbox = pending;
    } else {
      this.#inbox = this.#inbox.then(() => this.#receive(frame));
    }
  }

  /** Opens one frame and hands it over; a promise only when the endpoint or the hook returned one. */
  #receive(frame: Uint8Array): Promise<void> | undefined {
    let pending: Promise<void> | undefined;
    try {
      pending = this.#openAndDeliver(frame);
    } finally {
      if (pending === undefined) this.#handled(frame);
    }
    return pending === undefined ? undefined : pending.then(() => this.#handled(frame));
  }

  /** Never throws nor rejects: a frame that does not open closes the channel. */
  #openAndDeliver(frame: Uint8Array): Promise<void> | undefined {
    if (this.#failed) return undefined;
    if (this.#state === 'welcoming') return this.#openWelcome(frame);
    let payload: unknown;
    try {
      // An Endpoint (or a RotatingEndpoint, through its current one) opens without a promise
      // when its replay store answers at once (a fifth of the JavaScript per 64-byte frame, see
      // `openPayload`); any other forwarder through its own `open`.
      const opener = openerOf(this.#endpoint);
      payload =
        opener !== undefined
          ? openPayload(opener, frame, this.#openOptions)
          : this.#endpoint.open(frame, this.#openOptions).then(payloadOfOpened);
    } catch (error) {
      this.#refuse(error);
      return undefined;
    }
    if (payload instanceof Promise) {
      return payload.then(
        (opened: unknown) => this.#deliver(opened),
        (error: unknown) => this.#refuse(error),
      );
    }
    return this.#deliver(payload);
  }

  #deliver(payload: unknown): Promise<void> | undefined {
    this.#inbound.advance();
    this.#openOptions.context = this.#inbound.bytes;
    return callSafely(this.#callbackLogger, 'onMessage', () => this.#hooks.onMessage?.(payload, this));
  }

  #refuse(error: unknown): void {
    if (isWaTransportError(error)) this.#fail(closeCodeFor(error), error.code);
    else this.#fail(WsCloseCode.TRY_AGAIN_LATER, 'internal error');
  }

  /** A frame is done with: it no longer counts against the inbox's limit. */
  #handled(frame: Uint8Array): void {
    this.#unhandled--;
    this.#inboxBytes -= frame.length;
    if (this.#ws.isPaused && this.#inboxBytes <= this.#maxBufferedBytes) this.#ws.resume();
  }

  async #openWelcome(frame: Uint8Array): Promise<void> {
    try {
      await this.#endpoint.open(frame, { context: welcomeContext(this.id), peer: this.#peerLabel });
    } catch (error) {
      this.#fail(WsCloseCode.AUTH_FAILED, isWaTransportError(error) ? error.code : 'welcome refused');
      return;
    }
    clearTimeout(this.#welcomeTimer);
    if (this.#state !== 'welcoming') return;
    this.#state = 'open';
    await callSafely(this.#callbackLogger, 'onOpen', () => this.#hooks.onOpen?.(this));
  }

  /** Ping; a peer that has not ponged since the last ping is dead (ws's README "How to detect and close broken connections"). */
  #beat(): void {
    // While we do not read (back-pressure), the peer's pong sits unread in our socket.
    if (this.#ws.isPaused || this.#ws.readyState !== this.#ws.OPEN) return;
    if (!this.#alive) {
      this.#log('wa_transport.ws.dead_peer', {});
      this.#ws.terminate();
      return;
    }
    this.#alive = false;
    this.#ws.ping();
  }

  #fail(code: WsCloseCode, reason: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#log('wa_transport.ws.rejected', { closeCode: code, reason });
    if (this.#state !== 'closed') this.#state = 'closing';
    this.#ws.close(code, reason);
  }

  #onClose(wsCode: number, reason: string): void {
    this.#state = 'closed';
    clearInterval(this.#heartbeat);
    clearTimeout(this.#welcomeTimer);
    // After refusing a frame ws stops reading, so it reports 1006 though it sent a close code.
    const code = wsCode === WsCloseCode.ABNORMAL ? (this.#wsCloseCode ?? wsCode) : wsCode;
    this.#settle({ code, reason });
    // After the frames already received, so a handler never sees a message after the close.
    this.#inbox = this.#inbox.then(() =>
      callSafely(this.#callbackLogger, 'onClose', () => this.#hooks.onClose?.(this, { code, reason })),
    );
  }

  #log(event: string, fields: object): void {
    this.#logger.warn({ event, connection: this.id, peer: this.peer, side: this.side, ...fields }, 'websocket');
  }

  toJSON(): { id: string; side: string; peer: string | undefined } {
    return { id: this.id, side: this.side, peer: this.peer };
  }

  [inspect.custom](): string {
    return `WsChannel(${this.side}, ${this.id}, ${this.#state})`;
  }
}

function payloadOfOpened(opened: Opened): unknown {
  return opened.payload;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
