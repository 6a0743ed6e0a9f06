// Helpers the probes share.

/** The middle value of a list (the upper one of the two for an even count). */
export const median = (list) => [...list].sort((x, y) => x - y)[Math.floor(list.length / 2)];

/** Redis `INFO commandstats`: calls and microseconds per command. */
export async function commandStats(redis) {
  return Object.fromEntries((await redis.info('commandstats')).split('\n').filter((l) => l.startsWith('cmdstat_')).map((l) => {
    const [name, rest] = l.slice(8).split(':');
    return [name, { calls: Number(/calls=(\d+)/.exec(rest)[1]), usec: Number(/usec=(\d+)/.exec(rest)[1]) }];
  }));
}

/** Calls per command. */
export async function commandCalls(redis) {
  return Object.fromEntries(Object.entries(await commandStats(redis)).map(([name, s]) => [name, s.calls]));
}

/**
 * A one-rate sweep plan for a probe: the rooms shape (200 channels × 10 members, every member
 * sending), one 6 s run with 1 s untimed and 3 s to settle; `changes` replaces any of it.
 */
export function probePlan(rate, changes = {}) {
  return {
    channels: 200, members: 10, senders: 'all', repeats: 1, rates: [rate], stepMs: 6000, longStepMs: 6000, longRates: [],
    settleMs: 3000, rampMs: 1000, p99BoundMs: 50, keepUpP50Ms: 50, refine: 0, ...changes,
  };
}
