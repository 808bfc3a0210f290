/**
 * `wa-transport`: the core. Create an endpoint, seal and open envelopes, make a secret, tell
 * errors apart, keep nonces in a replay store. Importing it loads no transport, no operations
 * helper and no Redis client; those live on subpaths, loaded only by a process that uses them:
 * `wa-transport/http`, `/express`, `/fastify`, `/ws`, `/tls`, `/redis` (loads ioredis),
 * `/ops` (configuration, metrics, clock health, rotation) and `/protocol` (wire constants and
 * contexts, for tools and second implementations).
 */

export { createEndpoint } from './endpoint.js';
export type { Endpoint, EndpointLike, EndpointOptions, Opened, OpenOptions, Role, SealOptions } from './endpoint.js';
export type { BackendPreference } from './crypto/select-backend.js';
export { generateSecret } from './keys.js';
export { ErrorCode, WaTransportError, isWaTransportError } from './errors.js';
export { fromText, toText } from './envelope/text.js';

export type { ReplayStore } from './replay/store.js';
export { MemoryReplayStore } from './replay/memory.js';
export type { MemoryReplayStoreOptions, MemoryReplayStoreStats } from './replay/memory.js';
export { TieredReplayStore } from './replay/tiered.js';
export type { TieredReplayStoreOptions, UnavailablePolicy } from './replay/tiered.js';

export type { Logger } from './log.js';
export type { Clock } from './verifier.js';
export type { EndpointObserver, OpenedEvent, RejectedEvent } from './observer.js';
