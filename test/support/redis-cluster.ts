import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A real three-node Redis Cluster for tests: `redis-server` children on ports picked at runtime
 * (each port and its cluster bus port, port + 10000, checked free), joined with
 * `redis-cli --cluster create`, stopped by pid. Nothing persists (`--save "" --appendonly no`);
 * node files live in a temporary directory removed at the end.
 */
export interface LocalCluster {
  ports: number[];
  /** `redis://127.0.0.1:p1,redis://127.0.0.1:p2,…` — what REDIS_URL holds with REDIS_CLUSTER=1. */
  url: string;
  pids: number[];
  /** Runs `redis-cli -p <port> <args>` and returns its output. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The port of the master serving `key`'s slot. */
  portOf(key: string): Promise<number>;
  /** SIGKILL one node (by pid). */
  kill(port: number): void;
  signal(port: number, sig: NodeJS.Signals): void;
  stop(): Promise<void>;
}

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A port whose cluster bus port (+10000) is free too. */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 50; i += 1) {
    const p = await freePort();
    if (p > 55_000 || taken.has(p) || taken.has(p + 10_000)) continue;
    if (await listenable(p + 10_000)) return p;
  }
  throw new Error('no free port pair for a cluster node');
}

export async function startCluster(nodes = 3): Promise<LocalCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'fcn-cluster-'));
  const children = new Map<number, ChildProcess>();
  const taken = new Set<number>();
  const cli = async (port: number, ...args: string[]) =>
    (await run('redis-cli', ['-p', String(port), ...args], { timeout: 10_000 })).stdout.trim();
  const stop = async () => {
    for (const c of children.values()) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    await Promise.all(
      [...children.values()].map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < nodes; i += 1) {
      const port = await clusterPort(taken);
      taken.add(port).add(port + 10_000);
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '2000',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
        ],
        { stdio: 'ignore' },
      );
      children.set(port, child);
    }
    const ports = [...children.keys()];
    for (const port of ports) {
      for (let i = 0; ; i += 1) {
        if ((await cli(port, 'PING').catch(() => '')) === 'PONG') break;
        if (i > 100) throw new Error(`redis-server on ${port} did not start`);
        await sleep(50);
      }
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 20_000,
    });
    for (const port of ports) {
      for (let i = 0; ; i += 1) {
        if ((await cli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) break;
        if (i > 200) throw new Error(`cluster node ${port} not ok`);
        await sleep(50);
      }
    }
    const slotOwners = async () => {
      const owners: Array<[number, number, number]> = [];
      const text = await cli(ports[0]!, 'CLUSTER', 'NODES');
      for (const line of text.split('\n')) {
        const f = line.split(' ');
        const port = Number(f[1]?.split(':')[1]?.split('@')[0]);
        for (const range of f.slice(8)) {
          const [a, b] = range.split('-').map(Number);
          if (Number.isInteger(a)) owners.push([a!, b ?? a!, port]);
        }
      }
      return owners;
    };
    const owners = await slotOwners();
    return {
      ports,
      url: ports.map((p) => `redis://127.0.0.1:${p}`).join(','),
      pids: ports.map((p) => children.get(p)!.pid!),
      cli,
      async portOf(key) {
        const slot = Number(await cli(ports[0]!, 'CLUSTER', 'KEYSLOT', key));
        return owners.find(([a, b]) => slot >= a && slot <= b)![2];
      },
      kill(port) {
        process.kill(children.get(port)!.pid!, 'SIGKILL');
      },
      signal(port, sig) {
        process.kill(children.get(port)!.pid!, sig);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** CRC16/XMODEM as Redis Cluster uses it (`CLUSTER KEYSLOT`), honouring hash tags. */
export function keySlot(key: string): number {
  let k = Buffer.from(key);
  const open = k.indexOf('{');
  if (open >= 0) {
    const close = k.indexOf('}', open + 1);
    if (close > open + 1) k = k.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of k) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i += 1) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
