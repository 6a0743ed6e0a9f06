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
