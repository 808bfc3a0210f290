/**
 * Secret rotation inside a running process. Endpoints are immutable, so a rotation step
 * replaces the endpoint; `RotatingEndpoint` does the swap behind a stable object, keeping
 * the one thing that must outlive it: the replay store. A fresh store at each step would
 * forget the nonces accepted just before, and an envelope accepted by the old endpoint could
 * be replayed to the new one within the window.
 *
 * The runbook (README, "Rotating WA_SECRET") in terms of options, on every process:
 *   1. accept:  { secret: OLD, previousSecrets: [NEW] }  everywhere, before anyone seals with NEW
 *   2. switch:  { secret: NEW, previousSecrets: [OLD] }  senders one by one
 *   3. remove:  { secret: NEW, previousSecrets: [] }     once no OLD envelope can still be in flight
 */
import { inspect } from 'node:util';
import type { Logger } from '../log.js';
import type { Clock } from '../verifier.js';
import {
  type Endpoint,
  type EndpointOptions,
  type OpenOptions,
  type Opened,
  type Role,
  type SealOptions,
  OPENS_WITH,
  createEndpoint,
} from '../endpoint.js';
import { DEFAULT_WINDOW_MS } from '../defaults.js';
import { MemoryReplayStore } from '../replay/memory.js';
import type { ReplayStore } from '../replay/store.js';

/**
 * What may change at a rotation step: the secrets, and anything else but role, store and
 * clock. A new `windowMs` is accepted only up to the store's retention (else the step is
 * refused with ERR_WA_CONFIG and nothing changes).
 */
export type RotationUpdate = Partial<Omit<EndpointOptions, 'role' | 'replayStore' | 'clock'>>;

export class RotatingEndpoint {
  readonly role: Role;
  /** Shared by every endpoint this object creates. */
  readonly replayStore: ReplayStore;
  readonly #clock: Clock;
  #options: EndpointOptions;
  #current: Endpoint;

  private constructor(options: EndpointOptions, endpoint: Endpoint) {
    this.role = options.role;
    this.replayStore = options.replayStore!;
    this.#clock = options.clock!;
    this.#options = options;
    this.#current = endpoint;
  }

  /**
   * Creates the first endpoint; without `replayStore`, one `MemoryReplayStore` (retaining
   * nonces for the window) serves them all. Every endpoint it creates reads one clock that
   * never moves backwards, so a rotation after the host clock stepped back starts no earlier
   * than the last endpoint stopped.
   */
  static async create(options: EndpointOptions): Promise<RotatingEndpoint> {
    const clock = monotonic(options.clock ?? Date.now);
    const rememberedSince = clock(); // on the endpoint's clock, as the verifier's own store
    const retentionMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    const replayStore = options.replayStore ?? new MemoryReplayStore({ rememberedSince, retentionMs });
    const withStore = { ...options, clock, replayStore };
    return new RotatingEndpoint(withStore, await createEndpoint(withStore));
  }

  /** The endpoint in use now. Take it afresh for each message; do not keep it. */
  get endpoint(): Endpoint {
    return this.#current;
  }

  /** The current endpoint's size limit (the transports read it). */
  get maxEnvelopeBytes(): number {
    return this.#current.maxEnvelopeBytes;
  }

  get keyId(): string {
    return this.#current.keyId;
  }

  /** The current endpoint's logger (the `logger` option): the transports' default. */
  get logger(): Logger {
    return this.#current.logger;
  }

  get keyIds(): string[] {
    return this.#current.keyIds;
  }

  /**
   * One rotation step: builds an endpoint from the current options with `update` laid over
   * them (same role, same replay store), then swaps it in. Calls already running finish on the
   * endpoint they started with. If the new options are invalid, this rejects and nothing changes.
   */
  async update(update: RotationUpdate): Promise<void> {
    const fixed = { role: this.role, replayStore: this.replayStore, clock: this.#clock };
    const next: EndpointOptions = { ...this.#options, ...update, ...fixed };
    const endpoint = await createEndpoint(next);
    this.#options = next;
    this.#current = endpoint;
  }

  newRequestId(): string {
    return this.#current.newRequestId();
  }

  seal(payload: unknown, options?: SealOptions): Uint8Array {
    return this.#current.seal(payload, options);
  }

  sealText(payload: unknown, options?: SealOptions): string {
    return this.#current.sealText(payload, options);
  }

  open<T = unknown>(envelope: Uint8Array | string, options?: OpenOptions): Promise<Opened<T>> {
    return this.#current.open<T>(envelope, options);
  }

  openSync<T = unknown>(envelope: Uint8Array | string, options?: OpenOptions): Opened<T> {
    return this.#current.openSync<T>(envelope, options);
  }

  openReply<T = unknown>(envelope: Uint8Array, options: OpenOptions & { context: string | Uint8Array }): Opened<T> {
    return this.#current.openReply<T>(envelope, options);
  }

  /** `open` is the current endpoint's: the transports open through it without a promise. */
  [OPENS_WITH](): Endpoint {
    return this.#current;
  }

  toJSON(): { role: Role; keyIds: string[] } {
    return this.#current.toJSON();
  }

  toString(): string {
    return `Rotating${this.#current.toString()}`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** `clock`, never earlier than a previous reading. */
function monotonic(clock: Clock): Clock {
  let latest = -Infinity;
  return () => {
    const reading = clock();
    if (reading > latest) latest = reading;
    return latest;
  };
}
