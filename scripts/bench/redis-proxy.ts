import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of one Redis that counts what the client sends: writes (each `data` event
 * the proxy receives is one burst the client wrote at once: one pipeline, one round trip of
 * latency) and commands (top-level RESP arrays, parsed). Optionally delays every client→server
 * chunk by `delayMs` (order kept), so sequential round trips show up as wall time.
 * Used by `npm run bench` (Redis section) and the round-trip regression test.
 */
export interface CountingProxy {
  readonly url: string;
  writes(): number;
  /** Command names (upper case) since the last reset, in the order the client sent them. */
  commands(): string[];
  reset(): void;
  setDelay(ms: number): void;
  close(): Promise<void>;
}

/** Counts complete top-level RESP arrays in a client stream, keeping the first word of each. */
class RespCounter {
  private buf = Buffer.alloc(0);
  readonly names: string[] = [];

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    // Bounded by the buffer: every pass consumes one command or stops.
    for (;;) {
      const used = this.parseOne();
      if (used === 0) return;
      this.buf = this.buf.subarray(used);
    }
  }

  /** Bytes of one complete command at the buffer's start, or 0 when incomplete. */
  private parseOne(): number {
    const b = this.buf;
    if (b.length === 0) return 0;
    if (b[0] !== 0x2a /* '*' */) {
      // Inline command (not sent by ioredis): one line.
      const nl = b.indexOf('\r\n');
      if (nl < 0) return 0;
      this.names.push(b.subarray(0, nl).toString().split(' ')[0]!.toUpperCase());
      return nl + 2;
    }
    let nl = b.indexOf('\r\n');
    if (nl < 0) return 0;
    const n = Number(b.subarray(1, nl).toString());
    let pos = nl + 2;
    let first = '';
    for (let i = 0; i < n; i += 1) {
      nl = b.indexOf('\r\n', pos);
      if (nl < 0) return 0;
      const len = Number(b.subarray(pos + 1, nl).toString());
      const start = nl + 2;
      if (b.length < start + len + 2) return 0;
      if (i === 0)
        first = b
          .subarray(start, start + len)
          .toString()
          .toUpperCase();
      pos = start + len + 2;
    }
    this.names.push(first);
    return pos;
  }

  reset(): void {
    this.names.length = 0;
  }
}

export async function startCountingProxy(upstreamPort: number, delayMs = 0): Promise<CountingProxy> {
  let writes = 0;
  let delay = delayMs;
  const counters = new Set<RespCounter>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const up = connect(upstreamPort, '127.0.0.1');
    const counter = new RespCounter();
    counters.add(counter);
    sockets.add(client).add(up);
    // Chunks are forwarded in order even when delayed: each waits for the one before.
    let chain = Promise.resolve();
    client.on('data', (d) => {
      writes += 1;
      counter.push(d);
      if (delay <= 0) {
        chain = chain.then(() => {
          up.write(d);
        });
        return;
      }
      const wait = delay;
      chain = chain.then(
        () =>
          new Promise<void>((r) =>
            setTimeout(() => {
              up.write(d);
              r();
            }, wait),
          ),
      );
    });
    up.pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    client.on('close', () => {
      up.destroy();
      sockets.delete(client);
    });
    up.on('close', () => sockets.delete(up));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    writes: () => writes,
    commands: () => [...counters].flatMap((c) => c.names),
    reset: () => {
      writes = 0;
      for (const c of counters) c.reset();
    },
    setDelay: (ms) => {
      delay = ms;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
