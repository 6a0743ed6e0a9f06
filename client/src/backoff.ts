/** Reconnect delays: full jitter over an exponential backoff (AWS "Exponential Backoff And Jitter"). */
export interface BackoffOptions {
  /** The first retry waits up to this long (ms). Default 250. */
  initialMs?: number;
  /** No wait is longer than this (ms). Default 10 000. */
  maxMs?: number;
  /** 0 (no randomness) to 1 (full jitter: anywhere from 0 to the exponential delay). Default 1. */
  jitter?: number;
}

/** The wait before retry `attempt` (0-based). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialMs ?? 250;
  const max = options.maxMs ?? 10_000;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 1));
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (1 - jitter * random()));
}
