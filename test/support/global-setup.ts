import { createConnection } from 'node:net';

/**
 * Redis must be up for the store and limit tests. With CI=true a missing Redis fails the run
 * (never a silent skip); locally it prints how to start it.
 */
function redisUp(host = '127.0.0.1', port = 6379): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port });
    s.setTimeout(1000);
    s.once('connect', () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

export default async function setup(): Promise<void> {
  const up = await redisUp();
  process.env.FCN_REDIS_AVAILABLE = up ? '1' : '0';
  if (!up) {
    const msg = 'Redis is not reachable on 127.0.0.1:6379; start it with `bash scripts/redis-up.sh`';
    if (process.env.CI === 'true') throw new Error(msg);
    console.warn(`warning: ${msg} (Redis-backed tests will fail)`);
  }
}
