import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer } from 'node:net';

/**
 * A redis-server child process of this test, on a port picked at runtime, without persistence
 * (`--save "" --appendonly no`): a restarted server is EMPTY. Faults are injected by pid only:
 * SIGKILL (kill), SIGSTOP/SIGCONT (stall with the data kept). Never touches another Redis.
 */
export interface RedisChild {
  readonly port: number;
  readonly url: string;
  readonly pid: number | undefined;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** SIGSTOP: the server keeps its connections and data but answers nothing. */
  stop(): void;
  /** SIGCONT. */
  cont(): void;
  /** Starts a fresh (empty) server on the same port. */
  restart(): Promise<void>;
  /** Kills it if running (afterAll). */
  close(): Promise<void>;
}

/** A free TCP port: listen on 0, read it, close. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** True when something on `port` answers PING with PONG within `ms`. */
function pings(port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let buf = '';
    const end = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => end(false), ms);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('+PONG')) end(true);
    });
    sock.on('error', () => end(false));
  });
}

export async function startRedisChild(): Promise<RedisChild> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    const c = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'],
      {
        stdio: 'ignore',
      },
    );
    child = c;
    // A test worker that dies must not leave a (maybe stopped) server behind: kill it by pid on exit.
    const onExit = () => c.kill('SIGKILL');
    process.once('exit', onExit);
    c.once('exit', () => process.off('exit', onExit));
    // Bounded: 10 s at most for the server to answer PING (a loaded 2-core machine).
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null) throw new Error(`redis-server exited with ${c.exitCode} on port ${port}`);
      if (await pings(port, 500)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    c.kill('SIGKILL');
    throw new Error(`redis-server did not answer on port ${port} within 10 s`);
  }

  async function kill(): Promise<void> {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    // SIGKILL ends a stopped process too, without letting it run what is in its sockets.
    c.kill('SIGKILL');
    await exited;
  }

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    kill,
    stop() {
      child?.kill('SIGSTOP');
    },
    cont() {
      child?.kill('SIGCONT');
    },
    async restart() {
      await kill();
      await start();
    },
    close: kill,
  };
}
