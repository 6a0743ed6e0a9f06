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

/** Settings for our programs from a probe argument `A=1,B=2` (empty, missing or `-`: none). */
export function probeEnv(arg) {
  return !arg || arg === '-' ? {} : Object.fromEntries(arg.split(',').map((kv) => kv.split('=')));
}

/** The loads a probe can run: messages alone, with typing, updates without typing, the whole mix. */
const MIXES = { messages: undefined, typing: { updates: false, typing: true }, updates: { updates: true, typing: false }, mixed: { updates: true, typing: true } };

/** A sweep plan's `mix` for a load's name; throws for a name it does not know. */
export function probeMix(label) {
  if (!(label in MIXES)) throw new Error(`unknown load ${label}: use ${Object.keys(MIXES).join(', ')}`);
  return MIXES[label];
}

/** A step's server CPU per 1,000 events: every role but the load generators (servers + Redis). */
export const serverCpu = (step) => Object.entries(step.cpuPer1000ByRole).filter(([role]) => role !== 'load generator').reduce((a, [, v]) => a + v, 0);
