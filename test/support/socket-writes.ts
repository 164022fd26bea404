import type { Writable } from 'node:stream';

/**
 * Counts the writes a socket hands to the kernel: every `_write` (one chunk) or `_writev` (the
 * chunks buffered while it was corked) is one write request on the socket, one syscall on a
 * loopback connection, each waking the Redis server. Several `stream.write()` calls made while the
 * socket is corked show up as ONE `_writev`.
 */
export interface WriteCount {
  /** Socket writes since the last reset. */
  writes(): number;
  /** `stream.write()` calls since the last reset (what the client asked for). */
  chunks(): number;
  reset(): void;
}

export function countSocketWrites(streams: readonly Writable[]): WriteCount {
  let writes = 0;
  let chunks = 0;
  for (const s of streams) {
    const w = s as Writable & {
      _write: (...a: unknown[]) => unknown;
      _writev?: (chunks: unknown[], cb: unknown) => unknown;
    };
    const write = w._write.bind(w);
    w._write = (...a: unknown[]) => {
      writes += 1;
      chunks += 1;
      return write(...a);
    };
    if (w._writev) {
      const writev = w._writev.bind(w);
      w._writev = (list: unknown[], cb: unknown) => {
        writes += 1;
        chunks += list.length;
        return writev(list, cb);
      };
    }
  }
  return {
    writes: () => writes,
    chunks: () => chunks,
    reset: () => {
      writes = 0;
      chunks = 0;
    },
  };
}
