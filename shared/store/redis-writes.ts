import type { Redis } from 'ioredis';

/**
 * Issue 15: the commands (and pipelines) issued on `r` while the event loop works through one
 * round of I/O callbacks leave in ONE socket write. ioredis writes each command, and each
 * pipeline, to the socket as it is issued: a send's claim and its limit scripts (issued at the same
 * moment), and every job of a batch, each made a write syscall of its own, each waking
 * redis-server (13% of the function's CPU in the 100,000-line OSS batch). The first command corks
 * the socket and a setImmediate uncorks it: after the callbacks of this poll phase (the answers
 * that arrived together, and every promise they settle), never later, and no timer or I/O is
 * waited for. Node then writes the buffered commands with one writev. Order on the connection is
 * unchanged (one socket, FIFO), so a timed-out claim's release still runs right behind its SET,
 * and `commandTimeout` still counts from the moment a command is issued. Applied to the standalone
 * client (redis-connection.ts) and to each node connection of a cluster client (redis-cluster.ts).
 */
export function coalesceWrites(r: Redis): void {
  const send = r.sendCommand.bind(r);
  let corked: Redis['stream'] | undefined;
  r.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    const s = r.stream;
    if (s && corked !== s && s.writable) {
      corked = s;
      s.cork();
      setImmediate(() => {
        corked = undefined;
        s.uncork();
      });
    }
    return send(...args);
  }) as Redis['sendCommand'];
}
