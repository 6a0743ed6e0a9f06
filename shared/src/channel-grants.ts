/**
 * Which channels a token lets its user use (SPEC §7): the `channels` claim grants join and write,
 * `channels_read` join and read only. A pattern is an exact channel name, a prefix followed by
 * `*` (`team-42:*`), or `*` alone. A token with neither claim may use every channel; an empty
 * list grants nothing. Pure and allocation-free per lookup: the patterns are compiled once, when
 * the token is verified, and every door (WebSocket frames, HTTP reads) asks the same object.
 */

/** What a token (or the application's hook) allows in one channel. */
export type ChannelAccess = 'none' | 'read' | 'write';

/** One claim's patterns, compiled. */
class PatternSet {
  private readonly exact: Set<string>;
  private readonly prefixes: string[];
  private readonly all: boolean;

  constructor(patterns: readonly string[]) {
    this.exact = new Set(patterns.filter((p) => !p.endsWith('*')));
    this.prefixes = patterns.filter((p) => p.endsWith('*') && p !== '*').map((p) => p.slice(0, -1));
    this.all = patterns.includes('*');
  }

  matches(channel: string): boolean {
    if (this.all || this.exact.has(channel)) return true;
    for (let i = 0; i < this.prefixes.length; i++) if (channel.startsWith(this.prefixes[i] as string)) return true;
    return false;
  }

  /** Whether the patterns can match anything at all. */
  get empty(): boolean {
    return !this.all && this.exact.size === 0 && this.prefixes.length === 0;
  }
}

/** A claim value that is not a list of strings. */
export class GrantsError extends Error {
  override name = 'GrantsError';
}

export class ChannelGrants {
  /** Every channel, with write (no claims, or authentication off). */
  static readonly unrestricted = new ChannelGrants(undefined, undefined);

  private readonly write: PatternSet | undefined;
  private readonly read: PatternSet | undefined;

  /**
   * @param channels the `channels` claim (join + write), undefined when absent
   * @param channelsRead the `channels_read` claim (join + read only), undefined when absent
   */
  constructor(channels: readonly string[] | undefined, channelsRead: readonly string[] | undefined) {
    this.write = channels === undefined ? undefined : new PatternSet(channels);
    this.read = channelsRead === undefined ? undefined : new PatternSet(channelsRead);
  }

  /** Builds the grants of a verified token's payload; throws GrantsError when a claim is malformed. */
  static fromClaims(payload: Record<string, unknown>): ChannelGrants {
    const list = (name: string): string[] | undefined => {
      const value = payload[name];
      if (value === undefined) return undefined;
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
        throw new GrantsError(`the token's "${name}" claim must be a list of channel patterns`);
      }
      return value as string[];
    };
    const channels = list('channels');
    const channelsRead = list('channels_read');
    return channels === undefined && channelsRead === undefined ? ChannelGrants.unrestricted : new ChannelGrants(channels, channelsRead);
  }

  /** True when the token carries no claim: every channel, with write. */
  get isUnrestricted(): boolean {
    return this.write === undefined && this.read === undefined;
  }

  /** What the claims allow in `channel` (before asking any hook). */
  access(channel: string): ChannelAccess {
    if (this.isUnrestricted) return 'write';
    if (this.write?.matches(channel)) return 'write';
    if (this.read?.matches(channel)) return 'read';
    return 'none';
  }

  /** Whether the claims can grant anything at all (an empty list is a claim that grants nothing). */
  get grantsNothing(): boolean {
    return !this.isUnrestricted && (this.write?.empty ?? true) && (this.read?.empty ?? true);
  }
}

/** The greater of two accesses. */
export function widerAccess(a: ChannelAccess, b: ChannelAccess): ChannelAccess {
  if (a === 'write' || b === 'write') return 'write';
  if (a === 'read' || b === 'read') return 'read';
  return 'none';
}
