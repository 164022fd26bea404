import type { Redis } from 'ioredis';

/**
 * Issue 15: every command (or pipeline) issued on `r` within one tick leaves in ONE socket write.
 * ioredis writes each command, and each pipeline, to the socket as it is issued; a send issues its
 * claim and its limit scripts at the same moment, and a batch's jobs issue theirs in the same tick,
 * so each went out as its own write syscall (each waking redis-server): ~13% of a batch's CPU.
 * The first command of a tick corks the socket; it is uncorked on process.nextTick, i.e. once the
 * current callback and every promise it settles have run and before the event loop goes on, so no
 * command waits for I/O or a timer. Order on the connection is unchanged (one socket, FIFO), so a
 * ghost claim's release still runs right behind its SET. Node writes the corked chunks with one
 * writev. Applied to the standalone client and to each node connection of a cluster client.
 */
export function coalesceWrites(r: Redis): void {
  const send = r.sendCommand.bind(r);
  let corked: Redis['stream'] | undefined;
  r.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    const s = r.stream;
    if (s && corked !== s && s.writable) {
      corked = s;
      s.cork();
      process.nextTick(() => {
        corked = undefined;
        s.uncork();
      });
    }
    return send(...args);
  }) as Redis['sendCommand'];
}
