/**
 * `wa-transport/ops`: running a service. Configuration from `WA_*` variables, Prometheus
 * metrics, clock-health tracking and secret rotation without a restart. None of it is needed
 * to seal or open; a process that loads it pays for node:tls's profiles and, only when a
 * Redis URL is configured, ioredis.
 */

export { loadConfig, endpointOptionsFromConfig, replayStoreFromConfig } from './config.js';
export type { WaConfig, Env, LoadConfigOptions, WaConfigSummary, DbSslOptions } from './config.js';
export { Metrics } from './metrics.js';
export type {
  MetricsOptions,
  MetricsSnapshot,
  RejectionAlertOptions,
  RejectionSpike,
  ReplayCacheStats,
  PrometheusOptions,
} from './metrics.js';
export { ClockHealth } from './clock-health.js';
export type { ClockHealthOptions, ClockHealthReport } from './clock-health.js';
export { RotatingEndpoint } from './rotation.js';
export type { RotationUpdate } from './rotation.js';
export { combineObservers } from '../observer.js';
