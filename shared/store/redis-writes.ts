import type { Redis } from 'ioredis';

/**
 * Issue 15: the commands (and pipelines) issued on `r` in one callback (and every promise it
 * settles) leave in ONE socket write. ioredis writes each command, and each pipeline, to the socket
 * as it is issued: a send's claim and its limit scripts, issued at the same moment, were two write
 * syscalls, each waking redis-server (the socket writes were 13% of the function's CPU in the
 * 100,000-line OSS batch). The first command corks the socket and process.nextTick uncorks it:
 * before the event loop moves on, so no command waits for other I/O or a timer; Node then writes
 * the buffered commands with one writev. (Uncorking on setImmediate, after every callback of the
 * poll phase, shared more writes and saved more CPU but made a busy batch slower: a claim waited
 * for the other jobs' callbacks; BENCHMARKS.md.) Order on the connection is unchanged (one socket,
 * FIFO), so a timed-out claim's release still runs right behind its SET, and `commandTimeout`
 * still counts from the moment a command is issued. Applied to the standalone client
 * (redis-connection.ts) and to each node connection of a cluster client (redis-cluster.ts).
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
