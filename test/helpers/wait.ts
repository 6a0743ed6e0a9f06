/**
 * Waits for a condition by polling it; fails with `what` when it does not hold in time. A check
 * that itself hangs (a send whose answer never comes) is cut off at the same deadline, so every
 * wait ends with a message that says what it waited for, never a bare mocha timeout.
 */
const HUNG_GRACE_MS = 2000;

export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  /** What was waited for; a function is asked at the time of failure (to say how far it got). */
  what: string | (() => string),
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<T> {
  const say = (): string => (typeof what === 'function' ? what() : what);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    // A check still running this long after the deadline is taken to hang (a slow last check
    // that returns in time is judged by its value, not cut off).
    const left = Math.max(1, deadline - Date.now()) + HUNG_GRACE_MS;
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<{ hung: true }>((resolve) => { timer = setTimeout(() => resolve({ hung: true }), left); });
    const outcome = await Promise.race([
      Promise.resolve().then(check).then((value) => ({ value }), (error: unknown) => ({ error })),
      hung,
    ]);
    clearTimeout(timer);
    if ('hung' in outcome) throw new Error(`timed out after ${timeoutMs} ms waiting for ${say()} (the last check never returned)`);
    if ('error' in outcome) lastError = outcome.error;
    else if (outcome.value !== undefined && outcome.value !== false) return outcome.value as T;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${say()}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves with `promise`, or fails naming `what` when it does not settle within `timeoutMs`. */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
