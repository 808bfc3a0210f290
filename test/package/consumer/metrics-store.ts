// Metrics given the store the configuration built, whatever kind it is (issue 15: TS2741).
import { Metrics, loadConfig, replayStoreFromConfig } from 'wa-transport/ops';

const config = await loadConfig();
const replayStore = await replayStoreFromConfig(config);
const metrics = new Metrics({ replayStore });
export const entries: number | null = metrics.snapshot().replayCacheEntries;
