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
import {
  type Endpoint,
  type EndpointOptions,
  type OpenOptions,
  type Opened,
  type Role,
  type SealOptions,
  createEndpoint,
} from '../endpoint.js';
import { MemoryReplayStore } from '../replay/memory.js';
import type { ReplayStore } from '../replay/store.js';

/** What may change at a rotation step: the secrets, and anything else but role and store. */
export type RotationUpdate = Omit<EndpointOptions, 'role' | 'replayStore'>;

export class RotatingEndpoint {
  readonly role: Role;
  /** Shared by every endpoint this object creates. */
  readonly replayStore: ReplayStore;
  #options: EndpointOptions;
  #current: Endpoint;

  private constructor(options: EndpointOptions, endpoint: Endpoint) {
    this.role = options.role;
    this.replayStore = options.replayStore!;
    this.#options = options;
    this.#current = endpoint;
  }

  /** Creates the first endpoint; without `replayStore`, one `MemoryReplayStore` serves them all. */
  static async create(options: EndpointOptions): Promise<RotatingEndpoint> {
    const rememberedSince = (options.clock ?? Date.now)(); // on the endpoint's clock, as the verifier's own store
    const withStore = { ...options, replayStore: options.replayStore ?? new MemoryReplayStore({ rememberedSince }) };
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

  get keyIds(): string[] {
    return this.#current.keyIds;
  }

  /**
   * One rotation step: builds an endpoint from the current options with `update` laid over
   * them (same role, same replay store), then swaps it in. Calls already running finish on the
   * endpoint they started with. If the new options are invalid, this rejects and nothing changes.
   */
  async update(update: RotationUpdate): Promise<void> {
    const next: EndpointOptions = { ...this.#options, ...update, role: this.role, replayStore: this.replayStore };
    const endpoint = await createEndpoint(next);
    this.#options = next;
    this.#current = endpoint;
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
