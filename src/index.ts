/**
 * `wa-transport`: endpoints that seal and open envelopes, the replay stores, errors, and the
 * operations helpers. Transports live on subpaths so a process loads only what it uses:
 * `wa-transport/http`, `/express`, `/fastify`, `/ws`, `/tls`, and `/redis` (which loads ioredis).
 */

// Core: seal and open.
export { Endpoint, createEndpoint, DEFAULT_MAX_ENVELOPE_BYTES } from './endpoint.js';
export type { EndpointLike, EndpointOptions, Opened, OpenOptions, Role, SealOptions } from './endpoint.js';
export type { BackendPreference } from './crypto/backend.js';

// Errors and the wire format.
export { ErrorCode, WaTransportError, isWaTransportError } from './errors.js';
export { Direction, PayloadFormat, HEADER_BYTES, TAG_BYTES, MIN_ENVELOPE_BYTES, readHeader } from './envelope/format.js';
export type { EnvelopeHeader } from './envelope/format.js';
export { fromText, toText } from './envelope/text.js';
export { generateSecret, MIN_SECRET_BYTES } from './keys.js';
export type { Logger } from './log.js';

// Replay stores and the verifier.
export { MemoryReplayStore, DEFAULT_MAX_ENTRIES } from './replay/memory.js';
export type { MemoryReplayStoreOptions, MemoryReplayStoreStats } from './replay/memory.js';
export type { ReplayStore } from './replay/store.js';
export { TieredReplayStore } from './replay/tiered.js';
export type { TieredReplayStoreOptions, UnavailablePolicy } from './replay/tiered.js';
export { Verifier, DEFAULT_WINDOW_MS, DEFAULT_MAX_SKEW_MS } from './verifier.js';
export type { Clock, VerifierOptions } from './verifier.js';
export { MAX_DEPTH } from './payload.js';

// Observing and operating.
export type { EndpointObserver, OpenedEvent, RejectedEvent } from './observer.js';
export { combineObservers } from './observer.js';
export { loadConfig, endpointOptionsFromConfig, replayStoreFromConfig, WaConfig, MAX_CONFIG_WINDOW_MS } from './ops/config.js';
export type { Env, DbSslOptions, LoadConfigOptions, WaConfigSummary } from './ops/config.js';
export { Metrics, STORE_LATENCY_BUCKETS_MS } from './ops/metrics.js';
export type {
  MetricsOptions,
  MetricsSnapshot,
  RejectionAlertOptions,
  RejectionSpike,
  ReplayCacheStats,
  PrometheusOptions,
} from './ops/metrics.js';
export { ClockHealth } from './ops/clock-health.js';
export type { ClockHealthOptions, ClockHealthReport } from './ops/clock-health.js';
export { RotatingEndpoint } from './ops/rotation.js';
export type { RotationUpdate } from './ops/rotation.js';
