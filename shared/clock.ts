/**
 * Milliseconds on a monotonic clock, for durations (the log line's `ms`, provider latency).
 * process.hrtime, not the global `performance`: reading that global loads Node's perf_hooks
 * (~1 ms of a cold start's first request, measured in BENCHMARKS.md).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
