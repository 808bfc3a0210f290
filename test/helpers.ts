/** Shared test fixtures: endpoints on a controllable clock. */
import { createEndpoint, type Endpoint, type EndpointOptions } from '../src/index.js';

export const SECRET = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
export const OTHER_SECRET = 'other-secret-ZYXWVUTSRQPONMLKJIHGFEDCBA-9876543210';

/** A clock tests move by hand. */
export class ManualClock {
  constructor(public time = 1_800_000_000_000) {}
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

export interface Pair {
  web: Endpoint;
  core: Endpoint;
  clock: ManualClock;
}

/** A WebApp and a CoreApp endpoint sharing a secret and one manual clock. */
export async function pair(options: Partial<EndpointOptions> = {}): Promise<Pair> {
  const clock = new ManualClock();
  const base = { secret: SECRET, clock: clock.now, ...options };
  return {
    web: await createEndpoint({ ...base, role: 'webapp' }),
    core: await createEndpoint({ ...base, role: 'coreapp' }),
    clock,
  };
}

/** The code a promise rejects with, or 'accepted'. */
export async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    return (error as { code?: string }).code ?? `threw ${String(error)}`;
  }
}
