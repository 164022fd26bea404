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
  /** Writes sent when nothing the client sent before was still unanswered: sequential round trips. */
  roundTrips(): number;
  /** Command names (upper case) since the last reset, in the order the client sent them. */
  commands(): string[];
  reset(): void;
  setDelay(ms: number): void;
  close(): Promise<void>;
}

/** Counts complete top-level RESP arrays in a client stream, keeping the first word of each. */
class RespCounter {
  private buf: Buffer = Buffer.alloc(0);
  readonly names: string[] = [];
  /** Commands parsed since the connection opened (never reset: compared with the replies). */
  total = 0;

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
      this.names.push((b.subarray(0, nl).toString().split(' ')[0] ?? '').toUpperCase());
      this.total += 1;
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
    this.total += 1;
    return pos;
  }

  reset(): void {
    this.names.length = 0;
  }
}

/** Counts complete top-level RESP2 replies in a server stream (nested arrays included). */
class ReplyCounter {
  private buf: Buffer = Buffer.alloc(0);
  replies = 0;

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const end = skip(this.buf, 0);
      if (end < 0) return;
      this.replies += 1;
      this.buf = this.buf.subarray(end);
    }
  }
}

/** The end of the RESP2/RESP3 value starting at `pos`, or -1 when incomplete (ioredis speaks RESP3 after HELLO). */
function skip(b: Buffer, pos: number): number {
  if (pos >= b.length) return -1;
  const nl = b.indexOf('\r\n', pos);
  if (nl < 0) return -1;
  const type = String.fromCharCode(b[pos] as number);
  const n = Number(b.subarray(pos + 1, nl).toString());
  // Bulk string, verbatim string, bulk error: a length, then the bytes.
  if (type === '$' || type === '=' || type === '!') return n < 0 ? nl + 2 : b.length >= nl + 2 + n + 2 ? nl + 2 + n + 2 : -1;
  // Aggregates: array, set, push (n values), map (n pairs); an attribute (n pairs) precedes a value.
  const items = type === '*' || type === '~' || type === '>' ? n : type === '%' || type === '|' ? 2 * n : -1;
  if (items < 0) return nl + 2; // + - : _ # , ( one line
  let p = nl + 2;
  for (let i = 0; i < items; i += 1) {
    p = skip(b, p);
    if (p < 0) return -1;
  }
  return type === '|' ? skip(b, p) : p;
}

export async function startCountingProxy(upstreamPort: number, delayMs = 0): Promise<CountingProxy> {
  let writes = 0;
  let delay = delayMs;
  const counters = new Set<RespCounter>();
  const sockets = new Set<Socket>();
  let roundTrips = 0;
  const server: Server = createServer((client) => {
    const up = connect(upstreamPort, '127.0.0.1');
    const counter = new RespCounter();
    const replies = new ReplyCounter();
    counters.add(counter);
    sockets.add(client).add(up);
    // A write that finds every command sent before it answered starts a new sequential round
    // trip; one sent while others are in flight overlaps them (concurrent, no added latency).
    // Delayed chunks leave at arrival + delay, in order (one link's latency, not a queue).
    let lastDue = 0;
    client.on('data', (d: Buffer) => {
      writes += 1;
      if (counter.total === replies.replies) roundTrips += 1;
      counter.push(d);
      if (delay <= 0) {
        up.write(d);
        return;
      }
      const due = Math.max(Date.now() + delay, lastDue);
      lastDue = due;
      setTimeout(() => up.write(d), due - Date.now());
    });
    up.on('data', (d: Buffer) => {
      replies.push(d);
      client.write(d);
    });
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
    roundTrips: () => roundTrips,
    commands: () => [...counters].flatMap((c) => c.names),
    reset: () => {
      writes = 0;
      roundTrips = 0;
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
