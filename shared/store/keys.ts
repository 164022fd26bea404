/**
 * Key layout for Redis, cluster editions included. On a cluster (direct mode, and Alibaba's
 * proxy mode alike) a Lua script or MULTI may only touch keys of one hash slot, so keys that one
 * script changes share a hash tag: the part between the first `{` and the next `}` is all that is
 * hashed. Prefixes are ours and hold no braces, so the tag is always the one written here.
 * Table and reasons: docs/redis.md.
 *
 * - idempotency: one key per job, `<prefix>idem:<channel>:<caller>:<key>`: claim, outcome and
 *   release are the same key, so it needs no tag (and keeping its name keeps replays working
 *   across the upgrade). A companion key must be `<prefix>{<that whole key>}:<suffix>`, which
 *   hashes to the same slot as long as the key has no `{`.
 * - schedules: `<prefix>{sched:<channel>}:due` (sorted set), `…:jobs` (hash) and any other key of
 *   that channel's schedule (scheduleKey), one slot per channel.
 * - limits: `<prefix>{<group>}<rest of the rule key>`: every rule of one group (one phone, one
 *   caller, the global budget) in one slot, so a send runs one script per group.
 */

/** `<prefix>{<tag>}<rest>`. */
export function tagged(prefix: string, tag: string, rest = ''): string {
  return `${prefix}{${tag}}${rest}`;
}

/** The sorted set (score: when a job may next be taken) and the hash of jobs, in one slot. */
export function scheduleKeys(prefix: string, channel: string): [due: string, jobs: string] {
  return [tagged(prefix, `sched:${channel}`, ':due'), tagged(prefix, `sched:${channel}`, ':jobs')];
}

/** Any other key of a channel's schedule (e.g. a per-caller index) goes in the same slot. */
export function scheduleKey(prefix: string, channel: string, suffix: string): string {
  return tagged(prefix, `sched:${channel}`, suffix);
}

/** Before 0.2.0 (standalone only: the two keys need not share a slot). Read once to move jobs over. */
export function legacyScheduleKeys(prefix: string, channel: string): [due: string, jobs: string] {
  return [`${prefix}sched:${channel}`, `${prefix}sched:${channel}:jobs`];
}
