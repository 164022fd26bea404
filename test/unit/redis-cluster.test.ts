import { describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, loadConfig } from '#shared/config';
import { ConfigError } from '#shared/errors';
import { limitRules } from '#shared/guards/rate-limit';
import { scheduleKeys } from '#shared/store/keys';
import { clusterOptions, parseSeeds } from '#shared/store/redis-cluster';
import { REDIS_OPTIONS } from '#shared/store/redis-connection';
import { keySlot } from '../support/redis-cluster.ts';

describe('REDIS_CLUSTER', () => {
  it('is off by default and on with 1 or true', () => {
    expect(loadConfig({ APPCODE: 'x', REDIS_URL: 'redis://h:6379' }).redisCluster).toBe(false);
    expect(loadConfig({ APPCODE: 'x', REDIS_URL: 'redis://h:6379', REDIS_CLUSTER: '1' }).redisCluster).toBe(true);
    expect(loadConfig({ APPCODE: 'x', REDIS_URL: 'redis://h:6379', REDIS_CLUSTER: 'true' }).redisCluster).toBe(true);
  });

  it('without REDIS_URL is a configuration error naming both variables, never a silent memory store', () => {
    let err: unknown;
    try {
      loadConfig({ APPCODE: 'x', REDIS_CLUSTER: '1' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variables).toContain('REDIS_CLUSTER');
    expect((err as ConfigError).message).toContain('REDIS_URL');
  });

  it('reads seed nodes from one URL or a comma-separated list; credentials and TLS from the URL', () => {
    expect(parseSeeds('redis://10.0.0.1:7000,redis://10.0.0.2:7001')).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      auth: {},
    });
    expect(parseSeeds('rediss://user:p%40ss@r-x.redis.rds.aliyuncs.com:6379,10.0.0.3:6380')).toEqual({
      nodes: [
        { host: 'r-x.redis.rds.aliyuncs.com', port: 6379 },
        { host: '10.0.0.3', port: 6380 },
      ],
      auth: { username: 'user', password: 'p@ss', tls: {} },
    });
  });

  it('uses the standalone timeouts, no offline queue, and reports failovers instead of re-sending', () => {
    const o = clusterOptions(REDIS_OPTIONS, {});
    expect(o.enableOfflineQueue).toBe(false);
    expect(o.retryDelayOnFailover).toBe(0);
    expect(o.retryDelayOnClusterDown).toBe(0);
    expect(o.redisOptions).toMatchObject({
      commandTimeout: REDIS_OPTIONS.commandTimeout,
      connectTimeout: REDIS_OPTIONS.connectTimeout,
      enableOfflineQueue: false,
    });
  });
});

describe('key layout (hash tags)', () => {
  it('computes slots as CLUSTER KEYSLOT does (Alibaba documents foo → 12182), hash tags included', () => {
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('a{}b')).toBe(keySlot('a{}b'));
  });

  it("a schedule's set and its jobs share a slot; the two channels do not have to", () => {
    const [due, jobs] = scheduleKeys('fcn:', 'sms');
    expect(due).toBe('fcn:{sched:sms}:due');
    expect(keySlot(due)).toBe(keySlot(jobs));
  });

  it('the rules of one send fall in three groups: the phone, the caller, the budget (four with verification: per phone across channels)', () => {
    const plain = limitRules({ channel: 'sms', phone: '13800138000', skin: '1', params: [] }, 'app', undefined, DEFAULT_RATE_LIMITS);
    expect(new Set(plain.map((r) => r.group)).size).toBe(3);
    const rules = limitRules({ channel: 'sms', phone: '13800138000', skin: '1', params: [] }, 'app', 'verification', DEFAULT_RATE_LIMITS);
    expect(new Set(rules.map((r) => r.group)).size).toBe(4);
    // The verification group has no channel in it: SMS and voice codes share it (issue 12).
    const voice = limitRules({ channel: 'voice', phone: '13800138000', content: 'x' }, 'app', 'verification', DEFAULT_RATE_LIMITS);
    const vGroup = (rs: typeof rules) => rs.find((r) => r.name === 'verification-hourly')?.group;
    expect(vGroup(voice)).toBe(vGroup(rules));
    for (const r of rules) expect(r.key.startsWith(r.group!)).toBe(true);
  });
});
