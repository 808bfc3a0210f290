/**
 * What a request body may cost before it is authenticated (PROTOCOL §8.1, "Unauthenticated input
 * is bounded"), counted once for every server binding: node:http streams (./http-server.ts) and
 * WHATWG streams (./fetch.ts) only say how their bytes arrive.
 */
import { ErrorCode, WaTransportError } from '../errors.js';

/** What a request body may cost before it is authenticated. */
export interface BodyLimits {
  /** Largest body, in bytes (ERR_WA_TOO_LARGE beyond). */
  readonly maxBytes: number;
  /** How long the body may take to arrive, in ms (ERR_WA_BODY_TIMEOUT after). */
  readonly timeoutMs: number;
  /** The budget shared by every request of one handler (ERR_WA_OVERLOADED when spent). */
  readonly pending: PendingBodies;
}

/** A request body holding bytes of the budget; `evict` refuses it and gives its bytes back. */
export interface PendingBody {
  evict(): void;
}

/**
 * Request bodies received and not yet authenticated, against two ceilings: their bytes, and
 * their number. When a body needs room the budget does not have, the bodies that started first
 * are evicted (refused, ERR_WA_OVERLOADED) until it fits: an honest body completes within
 * milliseconds of starting, so the oldest holders are the stalled ones, and a flood of them
 * cannot keep a new request out (a refused newcomer would let 1,000 stalled clients starve
 * everyone).
 */
export class PendingBodies {
  #held = 0;
  /** Holders in the order they started (a Map iterates in insertion order), with their bytes. */
  readonly #holders = new Map<PendingBody, number>();

  constructor(
    readonly maxBytes: number,
    readonly maxBodies: number,
  ) {}

  get held(): number {
    return this.#held;
  }

  /** Counts `body` as pending, evicting the oldest body when there are `maxBodies` already. */
  enter(body: PendingBody): void {
    if (this.#holders.size >= this.maxBodies) this.#holders.keys().next().value?.evict();
    this.#holders.set(body, 0);
  }

  /** Takes `bytes` for `body`, evicting older bodies if needed; false when it cannot fit at all. */
  take(body: PendingBody, bytes: number): boolean {
    if ((this.#holders.get(body) ?? 0) + bytes > this.maxBytes) return false;
    for (const [older] of this.#holders) {
      if (this.#held + bytes <= this.maxBytes) break;
      if (older !== body) older.evict(); // gives its bytes back
    }
    this.#held += bytes;
    this.#holders.set(body, (this.#holders.get(body) ?? 0) + bytes);
    return true;
  }

  /** Gives back everything `body` holds, and its place. */
  release(body: PendingBody): void {
    this.#held -= this.#holders.get(body) ?? 0;
    this.#holders.delete(body);
  }
}

/** Where a body's bytes come from; told of them through a `BodySink`. */
export interface BodySource {
  /** Starts delivering the body to `sink`. */
  start(sink: BodySink): void;
  /**
   * Stops delivering: called once, when the body is complete (`complete`: the source said
   * `end`, nothing more will come) or refused.
   */
  stop(complete: boolean): void;
}

export interface BodySink {
  chunk(bytes: Uint8Array): void;
  end(): void;
  /** The stream failed or was cut short. */
  fail(): void;
}

/**
 * Reads a body within `limits`: refuses at once when the declared length (Content-Length) says
 * more than `maxBytes`, and stops as soon as the count passes it (ERR_WA_TOO_LARGE); counts as
 * one of the pending bodies (the oldest may be evicted to make room); takes every chunk from the
 * shared budget of unauthenticated bytes (older bodies may be evicted to make room, and this one
 * may be evicted later: ERR_WA_OVERLOADED); gives up after `timeoutMs`
 * (ERR_WA_BODY_TIMEOUT). A stream that fails or is cut short is ERR_WA_MALFORMED. The budget
 * is given back when the body is complete or refused.
 */
export function collectBody(
  source: BodySource,
  limits: BodyLimits,
  declaredLength: string | null | undefined,
): Promise<Uint8Array> {
  if (Number(declaredLength ?? 0) > limits.maxBytes) return Promise.reject(new WaTransportError(ErrorCode.TOO_LARGE));
  return new Promise((resolve, reject) => new BodyCollector(source, limits, resolve, reject));
}

/**
 * One body being read: the pending body the budget counts, and the sink its source feeds. A
 * class, not a literal of closures: nothing is built per request but the instance (under tsx
 * each named closure also cost a defineProperty call, 0.6% of a sealed 64-byte exchange).
 */
class BodyCollector implements PendingBody, BodySink {
  readonly #source: BodySource;
  readonly #limits: BodyLimits;
  readonly #resolve: (bytes: Uint8Array) => void;
  readonly #reject: (error: WaTransportError) => void;
  readonly #timer: NodeJS.Timeout;
  #chunks: Uint8Array[] = [];
  #total = 0;
  #settled = false;

  constructor(
    source: BodySource,
    limits: BodyLimits,
    resolve: (bytes: Uint8Array) => void,
    reject: (error: WaTransportError) => void,
  ) {
    this.#source = source;
    this.#limits = limits;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#timer = setTimeout(timedOut, limits.timeoutMs, this);
    limits.pending.enter(this); // may evict an older body, never this one
    source.start(this);
  }

  evict(): void {
    this.#done(new WaTransportError(ErrorCode.OVERLOADED));
  }

  timedOut(): void {
    this.#done(new WaTransportError(ErrorCode.BODY_TIMEOUT));
  }

  chunk(bytes: Uint8Array): void {
    if (this.#settled) return;
    if (this.#total + bytes.length > this.#limits.maxBytes)
      return this.#done(new WaTransportError(ErrorCode.TOO_LARGE));
    if (!this.#limits.pending.take(this, bytes.length)) return this.#done(new WaTransportError(ErrorCode.OVERLOADED));
    this.#total += bytes.length;
    this.#chunks.push(bytes);
  }

  end(): void {
    this.#done(undefined);
  }

  fail(): void {
    this.#done(new WaTransportError(ErrorCode.MALFORMED));
  }

  #done(error: WaTransportError | undefined): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#limits.pending.release(this);
    this.#source.stop(error === undefined);
    const chunks = this.#chunks;
    this.#chunks = [];
    if (error !== undefined) return this.#reject(error);
    this.#resolve(joinChunks(chunks, this.#total));
  }
}

/**
 * The chunks as one array. A body that arrived in one chunk (every body up to tens of KiB on a
 * quick link) is used as it is: the stream gave us that chunk and keeps no hold on it (Node and
 * undici read each socket read into memory of its own, then hand out views of it). Why: a copy
 * and an array of its own cost ~0.3 µs at 64 bytes and ~2 µs at 16 KiB, twice per sealed
 * exchange (bench/RESULTS.md). The bytes are an envelope, which travels in clear anyway.
 */
export function joinChunks(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

function timedOut(body: BodyCollector): void {
  body.timedOut();
}
