/**
 * The one place tests start Redis: a single server, a Cluster (masters with replicas) or a
 * Sentinel setup, each made of `redis-server` processes of our own on spare loopback ports,
 * with no persistence, stopped by PID. Only the `redis-server` and `redis-cli` binaries are
 * needed; nothing has to be running already, and the machine's own Redis is never touched.
 *
 *   const redis = await startRedis();                 // redis.url, redis.kill(), redis.restart()…
 *   const cluster = await startCluster();             // 3 masters, 1 replica each
 *   const sentinel = await startSentinel();           // 1 master, 1 replica, 3 sentinels
 *   …
 *   await redis.stop(); await cluster.stop(); await sentinel.stop();
 *
 * Whatever a test forgets, every process still running is killed (and every temp dir removed)
 * when the Node process exits, so a run leaves no redis-server behind.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

export const HOST = '127.0.0.1';

/** Printed (as the whole message) when the binary is missing: what to do, in one line. */
export const REDIS_SERVER_MISSING =
  'redis-server not found: install it (e.g. apt-get install redis-server) — the tests start their own Redis servers';

/** Every server we start: no persistence, loopback only. */
/**
 * No persistence, and a replica's full sync starts at once: Redis 7 waits
 * `repl-diskless-sync-delay` (5 s) for more replicas first, 5 s of every replica start here.
 */
const BASE_ARGS = ['--bind', HOST, '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'];

/** ioredis options as its constructors take them under exactOptionalPropertyTypes. */
export type ClientOptions = Omit<RedisOptions, 'replyMapping'>;
export type ClusterClientOptions = Omit<ClusterOptions, 'redisOptions'> & {
  redisOptions?: Omit<NonNullable<ClusterOptions['redisOptions']>, 'replyMapping'>;
};

const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
/** Joining a cluster, sentinel discovery and failovers (node-timeout or down-after, then an election) take seconds. */
const SETTLE_TIMEOUT_MS = 30_000;
const POLL_MS = 50;
/**
 * A starting server is asked more often: tests that kill and restart a server race their
 * clients' reconnects against it, and the old per-file helpers returned on the log's "Ready"
 * line, within milliseconds.
 */
const START_POLL_MS = 5;

export function redisServerFound(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error === undefined;
}

// ---------------------------------------------------------------------------------------------
// The safety net: whatever is still running when this process exits is killed by PID.

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let netInstalled = false;

function killEverything(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL'); // also ends a frozen (SIGSTOPped) process
    } catch {
      // already gone
    }
  }
  live.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function installSafetyNet(): void {
  if (netInstalled) return;
  netInstalled = true;
  process.once('exit', killEverything);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killEverything();
      // We were the only listener: die of the signal, as the process would have without us.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

function tempDir(prefix: string): string {
  installSafetyNet();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/** A port the OS just gave us on loopback (another process may still take it: see startOnFreePorts). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One command on a short-lived connection: the harness's own queries never retry or queue. */
async function ask(port: number, args: readonly string[], timeoutMs = 1000, password?: string): Promise<unknown> {
  const client = new Redis({
    host: HOST,
    port,
    ...(password === undefined ? {} : { password }),
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  client.on('error', () => {}); // refused while starting: the caller polls
  try {
    await client.connect();
    return await client.call(args[0]!, ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

/** PING on a raw socket: cheap enough to try every few milliseconds while a server starts. */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      // A server with requirepass answers NOAUTH: it is up all the same.
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG') || reply.startsWith('-NOAUTH'));
    });
    socket.once('end', () => done(false));
  });
}

/** Polls until `check` returns a value other than undefined, or throws `what` after the deadline. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const cause = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`redis harness: timed out after ${timeoutMs} ms waiting until ${what}${cause}`);
    }
    await sleep(POLL_MS);
  }
}

/** `field:value` lines of INFO (or CLUSTER INFO) as a map. */
function fields(text: unknown): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of String(text).split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0) map.set(line.slice(0, at), line.slice(at + 1));
  }
  return map;
}

/**
 * Remembers a client for stop(). Connection errors are expected here (the harness kills
 * servers): commands still reject, but ioredis does not print "Unhandled error event".
 */
function trackClient<T extends { disconnect(): void; on(event: 'error', listener: () => void): unknown }>(
  clients: Set<T>,
  client: T,
): T {
  client.on('error', () => {});
  clients.add(client);
  return client;
}

// ---------------------------------------------------------------------------------------------
// One redis-server process on a fixed port, which can be stopped and started again.

class RedisProcess {
  #child: ChildProcess | undefined;

  /**
   * `dir` is the working directory (a replica's full sync writes its RDB file there, whatever
   * `--save` says); `configFile` comes first on the command line, as redis-server requires.
   */
  constructor(
    readonly port: number,
    readonly dir: string,
    readonly args: readonly string[],
    readonly configFile?: string,
  ) {}

  get running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** The PID of the running process; throws when it is not running (a stale PID is a trap). */
  get pid(): number {
    const pid = this.running ? this.#child!.pid : undefined;
    if (pid === undefined) throw new Error(`redis harness: nothing runs on port ${this.port}`);
    return pid;
  }

  /** `more` arguments go last, so they win over `args` (e.g. another `--replicaof`). */
  async start(more: readonly string[] = []): Promise<void> {
    if (this.running) throw new Error(`redis harness: port ${this.port} is already running`);
    installSafetyNet();
    mkdirSync(this.dir, { recursive: true });
    const config = this.configFile === undefined ? [] : [this.configFile];
    const argv = [...config, '--port', String(this.port), '--dir', this.dir, ...BASE_ARGS, ...this.args, ...more];
    const child = spawn('redis-server', argv, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    live.add(child);
    // Keep draining the log (a full pipe would block the server); keep its tail for errors.
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-2000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let failed: Error | undefined;
    child.once('error', (error: NodeJS.ErrnoException) => {
      live.delete(child);
      failed = error.code === 'ENOENT' ? new Error(REDIS_SERVER_MISSING) : error;
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      failed ??= new Error(`redis-server on port ${this.port} exited (${code ?? signal}): ${output.trim()}`);
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (failed !== undefined) throw failed;
      if (await pings(this.port)) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(
          `redis-server on port ${this.port} did not answer PING within ${START_TIMEOUT_MS} ms: ${output.trim()}`,
        );
      }
      await sleep(START_POLL_MS);
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.#child!.kill(signal);
  }

  /** Sends `signal` (SIGKILL: as a crash would) and waits until the process has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.running) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    child.kill('SIGCONT'); // a frozen server must wake up to act on SIGTERM
    await exited;
  }

  /** SIGTERM (a clean shutdown), SIGKILL if it has not exited after a grace period. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.running) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    child.kill('SIGCONT');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Starts a server on spare ports, trying new ones if another process took a port between the
 * OS handing it to us and redis-server binding it.
 */
async function startOnFreePorts(make: (port: number, busPort: number) => Promise<RedisProcess>): Promise<RedisProcess> {
  for (let attempt = 1; ; attempt++) {
    const server = await make(await freePort(), await freePort());
    try {
      await server.start();
      return server;
    } catch (error) {
      if (attempt >= 3 || !(error instanceof Error) || !/already in use|bind/i.test(error.message)) throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A single server.

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** The running process's PID (it changes on restart). */
  readonly pid: number;
  /** Stops it (SIGTERM, then SIGKILL) and closes the clients `client()` made. */
  stop(): Promise<void>;
  /** Sends `signal` (default SIGKILL, as a crash would) and waits until it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port, empty (killing it first if it still runs). */
  restart(): Promise<void>;
  /** SIGSTOP: the server hangs with its sockets open, as a stalled Redis does. */
  freeze(): void;
  /** SIGCONT: it carries on with what it had received. */
  thaw(): void;
  /** An ioredis client to this server; closed by `stop()`. */
  client(options?: ClientOptions): Redis;
}

export interface StartRedisOptions {
  /** More redis-server arguments, e.g. `['--maxmemory-policy', 'allkeys-lru']`. */
  args?: readonly string[];
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const dir = tempDir('wa-redis-');
  const server = await startOnFreePorts(async (port) => new RedisProcess(port, dir, options.args ?? [])).catch(
    (error: unknown) => {
      removeTempDir(dir);
      throw error;
    },
  );
  const clients = new Set<Redis>();
  return {
    url: `redis://${HOST}:${server.port}`,
    port: server.port,
    get pid() {
      return server.pid;
    },
    async stop() {
      for (const client of clients) client.disconnect();
      clients.clear();
      await server.stop();
      removeTempDir(dir);
    },
    kill: (signal) => server.kill(signal),
    async restart() {
      await server.kill();
      await server.start();
    },
    freeze: () => server.signal('SIGSTOP'),
    thaw: () => server.signal('SIGCONT'),
    client: (redisOptions = {}) => trackClient(clients, new Redis({ host: HOST, port: server.port, ...redisOptions })),
  };
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster.

export interface ClusterNodeInfo {
  readonly id: string;
  readonly port: number;
  readonly role: 'master' | 'replica';
  /** Marked as failed by the cluster (`fail` or `fail?`). */
  readonly failed: boolean;
  /** The master this replica follows; undefined for a master. */
  readonly masterId: string | undefined;
  /** Inclusive slot ranges a master serves. */
  readonly slots: ReadonlyArray<readonly [number, number]>;
  /** The PID of our process on that port, undefined when it is not running. */
  readonly pid: number | undefined;
}

export interface RedisClusterHandle {
  /** `host:port` of every node, the form of WA_REPLAY_REDIS_CLUSTER_NODES. */
  readonly seeds: readonly string[];
  /** The same, as ioredis `Cluster` takes them. */
  readonly startupNodes: ReadonlyArray<{ host: string; port: number }>;
  /** Every node as the cluster sees it now (asked of a running node). */
  nodes(): Promise<ClusterNodeInfo[]>;
  /**
   * SIGKILLs the master serving `slot` (default 0) and resolves once a replica has taken its
   * slots and every running node reports `cluster_state:ok` again. To kill it mid-traffic,
   * start the call and await it later.
   */
  killMaster(slot?: number): Promise<{ killed: ClusterNodeInfo; promoted: ClusterNodeInfo }>;
  /**
   * Starts a killed node again on its port, with its cluster config: a former master finds its
   * slots served by another and becomes that node's replica. Resolves once it is one, synced.
   */
  restartNode(port: number): Promise<void>;
  /** An ioredis Cluster client; closed by `stop()`. */
  client(options?: ClusterClientOptions): Cluster;
  /** Kills every node (SIGKILL: nothing to keep) and removes the temp dir. */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how soon a silent master is failed over. */
  nodeTimeoutMs?: number;
  /** More redis-server arguments for every node. */
  args?: readonly string[];
  /** `requirepass` (and `masterauth`) of every node: clients must AUTH. */
  password?: string;
}

function parseClusterNodes(text: string, pidOf: (port: number) => number | undefined): ClusterNodeInfo[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      // <id> <ip:port@cport> <flags> <master> <ping-sent> <pong-recv> <epoch> <link> <slot>…
      const [id, address, flags, master, , , , , ...slots] = line.trim().split(' ');
      const port = Number(address!.split('@')[0]!.split(':').at(-1));
      const flagList = flags!.split(',');
      return {
        id: id!,
        port,
        role: flagList.includes('master') ? 'master' : 'replica',
        failed: flagList.includes('fail') || flagList.includes('fail?'),
        masterId: master === '-' ? undefined : master,
        slots: slots
          .filter((s) => !s.startsWith('[')) // migrating/importing markers
          .map((s) => {
            const [from, to] = s.split('-');
            return [Number(from), Number(to ?? from)] as const;
          }),
        pid: pidOf(port),
      } satisfies ClusterNodeInfo;
    });
}

const serves = (node: ClusterNodeInfo, slot: number): boolean =>
  node.role === 'master' && node.slots.some(([from, to]) => slot >= from && slot <= to);

export async function startCluster(options: StartClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
  const password = options.password;
  const auth = password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
  const dir = tempDir('wa-redis-cluster-');
  const processes: RedisProcess[] = [];
  const clients = new Set<Cluster>();
  const stop = async (): Promise<void> => {
    for (const client of clients) client.disconnect();
    clients.clear();
    await Promise.all(processes.map((p) => p.kill()));
    removeTempDir(dir);
  };
  try {
    // Cluster bus ports are chosen too (`cluster-port`): the default, port + 10000, may be taken
    // or past 65535 for a port from the ephemeral range.
    const started = await Promise.all(
      Array.from({ length: masters * (1 + replicasPerMaster) }, () =>
        startOnFreePorts(async (port, busPort) => {
          const node = new RedisProcess(port, join(dir, String(port)), [
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(busPort),
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            String(nodeTimeoutMs),
            ...auth,
            ...(options.args ?? []),
          ]);
          processes.push(node);
          return node;
        }),
      ),
    );
    const seeds = started.map((p) => `${HOST}:${p.port}`);
    await promisify(execFile)(
      'redis-cli',
      [
        ...(password === undefined ? [] : ['-a', password, '--no-auth-warning']),
        '--cluster',
        'create',
        ...seeds,
        '--cluster-replicas',
        String(replicasPerMaster),
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    ).catch((error: NodeJS.ErrnoException & { stdout?: string }) => {
      if (error.code === 'ENOENT')
        throw new Error('redis-cli not found: install it (e.g. apt-get install redis-server)');
      throw new Error(`redis-cli --cluster create failed: ${error.message}\n${error.stdout ?? ''}`);
    });

    const pidOf = (port: number): number | undefined => {
      const node = started.find((p) => p.port === port);
      return node?.running ? node.pid : undefined;
    };
    const nodesSeenBy = async (port: number): Promise<ClusterNodeInfo[]> =>
      parseClusterNodes(String(await ask(port, ['CLUSTER', 'NODES'], 1000, password)), pidOf);
    const nodes = async (): Promise<ClusterNodeInfo[]> => {
      for (const node of started) if (node.running) return nodesSeenBy(node.port);
      throw new Error('redis harness: no cluster node is running');
    };
    const stateOk = async (port: number): Promise<boolean> =>
      fields(await ask(port, ['CLUSTER', 'INFO'], 1000, password)).get('cluster_state') === 'ok';

    // Ready: every node ok, knows every other one healthy, and every replica has synced (a
    // replica that never synced will not stand for election).
    await until(
      'every cluster node reports cluster_state:ok with all replicas in sync',
      async () => {
        for (const node of started) {
          if (!(await stateOk(node.port))) return undefined;
          const seen = await nodesSeenBy(node.port);
          if (seen.length !== started.length || seen.some((n) => n.failed)) return undefined;
          if (seen.filter((n) => n.role === 'master').length !== masters) return undefined;
          const me = seen.find((n) => n.port === node.port);
          if (me?.role === 'replica') {
            const replication = fields(await ask(node.port, ['INFO', 'replication'], 1000, password));
            if (replication.get('master_link_status') !== 'up') return undefined;
          }
        }
        return true;
      },
      SETTLE_TIMEOUT_MS,
    );

    return {
      seeds,
      startupNodes: started.map((p) => ({ host: HOST, port: p.port })),
      nodes,
      async killMaster(slot = 0) {
        const killed = (await nodes()).find((n) => serves(n, slot) && !n.failed);
        const victim = started.find((p) => p.port === killed?.port);
        if (killed === undefined || victim === undefined)
          throw new Error(`redis harness: no live master serves slot ${slot}`);
        await victim.kill('SIGKILL');
        const promoted = await until(
          `a replica serves slot ${slot} and every running node reports cluster_state:ok`,
          async () => {
            let promoted: ClusterNodeInfo | undefined;
            for (const node of started.filter((p) => p.running)) {
              if (!(await stateOk(node.port))) return undefined;
              const owner = (await nodesSeenBy(node.port)).find((n) => serves(n, slot));
              if (owner === undefined || owner.id === killed.id || owner.failed) return undefined;
              promoted = owner;
            }
            return promoted;
          },
          SETTLE_TIMEOUT_MS,
        );
        return { killed: { ...killed, pid: undefined }, promoted };
      },
      async restartNode(port) {
        const node = started.find((p) => p.port === port);
        if (node === undefined) throw new Error(`redis harness: no cluster node on port ${port}`);
        await node.start();
        await until(
          `the node on ${port} is a replica in sync`,
          async () => {
            const replication = fields(await ask(port, ['INFO', 'replication'], 1000, password));
            return (replication.get('role') === 'slave' && replication.get('master_link_status') === 'up') || undefined;
          },
          SETTLE_TIMEOUT_MS,
        );
      },
      client: (clusterOptions = {}) =>
        trackClient(
          clients,
          new Cluster(
            started.map((p) => ({ host: HOST, port: p.port })),
            password === undefined
              ? clusterOptions
              : { ...clusterOptions, redisOptions: { password, ...clusterOptions.redisOptions } },
          ),
        ),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Sentinel.

export interface RedisSentinelHandle {
  /** The name the sentinels monitor the master under. */
  readonly masterName: string;
  /** `host:port` of every sentinel, the form of WA_REPLAY_REDIS_SENTINELS. */
  readonly sentinels: readonly string[];
  /** The master's address as the sentinels report it now. */
  master(): Promise<{ host: string; port: number }>;
  /**
   * SIGKILLs the current master and resolves once every running sentinel reports the promoted
   * replica as the master, and that replica says it is one.
   */
  killMaster(): Promise<{ killed: { host: string; port: number }; promoted: { host: string; port: number } }>;
  /**
   * Starts the killed server again (empty, on its port) as the new master's replica. Resolves
   * once it is one, synced, and (unless `seenBySentinels` is false) once every sentinel sees
   * every replica up, so that the next failover can promote it.
   */
  restartKilled(options?: { seenBySentinels?: boolean }): Promise<void>;
  /** An ioredis client through the sentinels (`sentinels` + `name`); closed by `stop()`. */
  client(options?: ClientOptions): Redis;
  /** Kills every process (SIGKILL: nothing to keep) and removes the temp dir. */
  stop(): Promise<void>;
}

export interface StartSentinelOptions {
  masterName?: string;
  /** `sentinel down-after-milliseconds`: how soon a silent master counts as down. */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. */
  failoverTimeoutMs?: number;
  /** `requirepass` (and `masterauth`) of the master and replica; the sentinels know it (`auth-pass`). */
  password?: string;
  /** `requirepass` of the sentinels themselves (and `sentinel-pass`, to reach each other). */
  sentinelPassword?: string;
  /** Replicas of the master. @default 1 */
  replicas?: number;
}

/** A sentinel's reply about an instance (`SENTINEL master`, each of `SENTINEL replicas`): name, value, name, value… */
function sentinelFields(flat: readonly string[]): Map<string, string> {
  const state = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) state.set(flat[i]!, flat[i + 1]!);
  return state;
}

const SENTINELS = 3;
const QUORUM = 2;

export async function startSentinel(options: StartSentinelOptions = {}): Promise<RedisSentinelHandle> {
  const masterName = options.masterName ?? 'wa-test';
  const downAfterMs = options.downAfterMs ?? 1000;
  const failoverTimeoutMs = options.failoverTimeoutMs ?? 5000;
  const password = options.password;
  const sentinelPassword = options.sentinelPassword;
  const replicaCount = options.replicas ?? 1;
  const auth = password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
  const dir = tempDir('wa-redis-sentinel-');
  const data: RedisProcess[] = [];
  const sentinels: RedisProcess[] = [];
  const clients = new Set<Redis>();
  const stop = async (): Promise<void> => {
    for (const client of clients) client.disconnect();
    clients.clear();
    await Promise.all([...data, ...sentinels].map((p) => p.kill()));
    removeTempDir(dir);
  };
  try {
    const master = await startOnFreePorts(async (port) => new RedisProcess(port, join(dir, 'master'), auth));
    data.push(master);
    for (let i = 0; i < replicaCount; i++) {
      const replica = await startOnFreePorts(
        async (port) =>
          new RedisProcess(port, join(dir, `replica-${i}`), ['--replicaof', HOST, String(master.port), ...auth]),
      );
      data.push(replica);
      await until(
        'the replica has synced with the master',
        async () =>
          fields(await ask(replica.port, ['INFO', 'replication'], 1000, password)).get('master_link_status') === 'up' ||
          undefined,
        START_TIMEOUT_MS,
      );
    }

    // Sentinel rewrites its configuration file (what it learns, its own id), so each needs one.
    for (let i = 0; i < SENTINELS; i++) {
      const sentinel = await startOnFreePorts(async (port) => {
        const file = join(dir, `sentinel-${port}.conf`);
        writeFileSync(
          file,
          [
            `sentinel monitor ${masterName} ${HOST} ${master.port} ${QUORUM}`,
            `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
            `sentinel failover-timeout ${masterName} ${failoverTimeoutMs}`,
            `sentinel parallel-syncs ${masterName} 1`,
            ...(password === undefined ? [] : [`sentinel auth-pass ${masterName} ${password}`]),
            // The sentinels' own password: clients AUTH, and so do the sentinels to each other.
            ...(sentinelPassword === undefined
              ? []
              : [`requirepass ${sentinelPassword}`, `sentinel sentinel-pass ${sentinelPassword}`]),
            '',
          ].join('\n'),
        );
        return new RedisProcess(port, dir, ['--sentinel'], file);
      });
      sentinels.push(sentinel);
    }

    const addressFrom = async (sentinel: RedisProcess): Promise<{ host: string; port: number }> => {
      const reply = (await ask(
        sentinel.port,
        ['SENTINEL', 'get-master-addr-by-name', masterName],
        1000,
        sentinelPassword,
      )) as [string, string] | null;
      if (reply === null) throw new Error(`sentinel on port ${sentinel.port} does not know ${masterName}`);
      return { host: reply[0], port: Number(reply[1]) };
    };
    // Ready: each sentinel sees the master up, the replica, and the two other sentinels.
    await until(
      'every sentinel sees the master, its replica and the other sentinels',
      async () => {
        for (const sentinel of sentinels) {
          const flat = (await ask(
            sentinel.port,
            ['SENTINEL', 'master', masterName],
            1000,
            sentinelPassword,
          )) as string[];
          const state = sentinelFields(flat);
          if (state.get('flags') !== 'master') return undefined;
          if (
            Number(state.get('num-slaves')) < replicaCount ||
            Number(state.get('num-other-sentinels')) < SENTINELS - 1
          )
            return undefined;
        }
        return true;
      },
      SETTLE_TIMEOUT_MS,
    );

    return {
      masterName,
      sentinels: sentinels.map((s) => `${HOST}:${s.port}`),
      master: () => addressFrom(sentinels.find((s) => s.running) ?? sentinels[0]!),
      async killMaster() {
        const killed = await addressFrom(sentinels[0]!);
        const victim = data.find((p) => p.port === killed.port);
        if (victim === undefined || !victim.running)
          throw new Error(`redis harness: the master on ${killed.port} is not running`);
        await victim.kill('SIGKILL');
        const promoted = await until(
          `every sentinel reports a new master for ${masterName}`,
          async () => {
            let address: { host: string; port: number } | undefined;
            for (const sentinel of sentinels.filter((s) => s.running)) {
              address = await addressFrom(sentinel);
              if (address.port === killed.port) return undefined;
            }
            if (address === undefined) return undefined;
            const [role] = (await ask(address.port, ['ROLE'], 1000, password)) as [string];
            return role === 'master' ? address : undefined;
          },
          SETTLE_TIMEOUT_MS,
        );
        return { killed, promoted };
      },
      async restartKilled({ seenBySentinels = true } = {}) {
        const master = await addressFrom(sentinels.find((s) => s.running) ?? sentinels[0]!);
        for (const server of data.filter((p) => !p.running)) {
          // Straight back as the current master's replica: left to the sentinels, the
          // reconfiguration took seconds more.
          await server.start(['--replicaof', master.host, String(master.port)]);
          await until(
            `the restarted server on ${server.port} is a replica in sync`,
            async () => {
              const replication = fields(await ask(server.port, ['INFO', 'replication'], 1000, password));
              return (
                (replication.get('role') === 'slave' && replication.get('master_link_status') === 'up') || undefined
              );
            },
            SETTLE_TIMEOUT_MS,
          );
        }
        if (!seenBySentinels) return;
        // Every replica known to every sentinel as up: one they could promote.
        const replicaPorts = data.filter((p) => p.running && p.port !== master.port).map((p) => p.port);
        await until(
          'every sentinel sees every replica up',
          async () => {
            for (const sentinel of sentinels.filter((s) => s.running)) {
              const replicas = (await ask(
                sentinel.port,
                ['SENTINEL', 'replicas', masterName],
                1000,
                sentinelPassword,
              )) as string[][];
              const up = replicas
                .map(sentinelFields)
                .filter((state) => !/s_down|o_down|disconnected/.test(state.get('flags') ?? ''))
                .map((state) => Number(state.get('port')));
              if (!replicaPorts.every((port) => up.includes(port))) return undefined;
            }
            return true;
          },
          SETTLE_TIMEOUT_MS,
        );
      },
      client: (redisOptions = {}) =>
        trackClient(
          clients,
          new Redis({
            sentinels: sentinels.map((s) => ({ host: HOST, port: s.port })),
            ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
            name: masterName,
            ...redisOptions,
          }),
        ),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
