/**
 * Presence: who is in a channel, across every push server.
 *
 * Redis holds the truth (claim/release/sweep Lua scripts: names are unique per channel, and a
 * dead server's names are swept once its route expires). Each push server keeps a local copy of
 * the names of every channel it has members in, built from one read and then kept current by the
 * `+`/`-` events the scripts publish to its inbox. Members get the full list from that copy after
 * their history, then only coalesced diffs (`joined`/`left`), at most one frame per channel per
 * PRESENCE_INTERVAL_MS, whatever the number of changes.
 */
import { callScript, type RedisClient, type RedisKeys } from '@chat/shared';

/** Talks to the presence scripts for this push server. */
export class PresenceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly serverId: string,
    /** How long presence keys live without a heartbeat (the route lifetime). */
    private readonly lifetimeMs: number,
    /** Webhooks on: member events are recorded, debounced this long (SPEC §8). */
    private readonly webhookDebounceMs: number | undefined = undefined,
  ) {}

  private get hooks(): string {
    return this.webhookDebounceMs === undefined ? '' : String(this.webhookDebounceMs);
  }

  /**
   * Claims `user` in the channel for one connection; false when another connection holds it
   * (unless `allowSameUser`, or the holder is the same client `session` reconnecting).
   */
  async claim(channel: string, connectionId: string, user: string, allowSameUser: boolean, session = ''): Promise<boolean> {
    const [due, claimed] = await callScript<[number, number]>(this.redis, 'chatClaimPresence', this.keys.presenceKeys(channel), [
      this.serverId, connectionId, user, allowSameUser ? '1' : '0', session, this.keys.inboxRoute(channel), channel, this.lifetimeMs, this.hooks,
    ]);
    await scheduleHooks(this.redis, this.keys, channel, due);
    return Number(claimed) === 1;
  }

  async release(channel: string, connectionId: string): Promise<void> {
    const [due] = await callScript<[number, number]>(this.redis, 'chatReleasePresence', this.keys.presenceKeys(channel), [
      this.serverId, connectionId, this.keys.inboxRoute(channel), channel, this.hooks,
    ]);
    await scheduleHooks(this.redis, this.keys, channel, due);
  }

  /** Drops dead servers' names and keeps the keys alive; returns the names present. */
  async sweep(channel: string, keepAlive: boolean): Promise<string[]> {
    return PresenceStore.names(this.redis, this.keys, channel, keepAlive ? this.lifetimeMs : 0, this.hooks);
  }

  /**
   * The names present in a channel (after sweeping dead servers' names), sorted. `hooks` is the
   * webhook debounce ("" when off): a swept name's member.left is recorded then.
   */
  static async names(redis: RedisClient, keys: RedisKeys, channel: string, keepAliveMs = 0, hooks = ''): Promise<string[]> {
    const [due, ...names] = await callScript<[number, ...string[]]>(redis, 'chatSweepPresence', keys.presenceKeys(channel), [
      keys.inboxRoute(channel), channel, keepAliveMs, '1', hooks,
    ]);
    await scheduleHooks(redis, keys, channel, due);
    return names.sort((a, b) => a.localeCompare(b));
  }
}

/** Tells the webhook dispatcher when a channel's outbox needs it (a presence script said so). */
async function scheduleHooks(redis: RedisClient, keys: RedisKeys, channel: string, due: number): Promise<void> {
  if (Number(due) > 0) await redis.zadd(keys.hooksDue(), 'LT', Number(due), channel);
}

/** Parses a presence event from the inbox: `p\n<channel>\n+|-\n<user>`. */
export function parsePresenceEvent(payload: string): { channel: string; joined: boolean; user: string } | undefined {
  const parts = payload.split('\n');
  if (parts.length !== 4 || parts[0] !== 'p' || (parts[2] !== '+' && parts[2] !== '-')) return undefined;
  return { channel: parts[1] as string, joined: parts[2] === '+', user: parts[3] as string };
}

/**
 * One channel's names as this server knows them, and the changes not yet sent to its members.
 * Events that arrive before the first read are held and applied after it (they are a suffix of
 * the channel's event order, so the result is right whatever the read saw).
 */
export class LocalPresence {
  private readonly users = new Set<string>();
  /** The names as last sent to members. */
  private readonly sent = new Set<string>();
  private readonly changed = new Set<string>();
  private held: Array<[boolean, string]> | undefined = [];

  /** Sets the names read from Redis and applies the events that arrived meanwhile. */
  init(names: string[]): void {
    for (const n of names) { this.users.add(n); this.sent.add(n); }
    const held = this.held ?? [];
    this.held = undefined;
    for (const [joined, user] of held) this.apply(joined, user);
  }

  get ready(): boolean {
    return this.held === undefined;
  }

  /** Applies one event; returns true when there is something to send. */
  apply(joined: boolean, user: string): boolean {
    if (this.held) { this.held.push([joined, user]); return false; }
    if (joined) this.users.add(user); else this.users.delete(user);
    this.changed.add(user);
    return true;
  }

  /** Replaces the names with a fresh read (after Redis came back); the difference goes out as a diff. */
  reset(names: string[]): void {
    if (this.held) { this.init(names); return; }
    const fresh = new Set(names);
    for (const user of this.users) if (!fresh.has(user)) this.changed.add(user);
    for (const user of fresh) if (!this.users.has(user)) this.changed.add(user);
    this.users.clear();
    for (const user of fresh) this.users.add(user);
  }

  list(): string[] {
    return [...this.users].sort((a, b) => a.localeCompare(b));
  }

  /** The net change since the last diff (or undefined when nothing changed for members). */
  takeDiff(): { joined: string[]; left: string[] } | undefined {
    const joined: string[] = [];
    const left: string[] = [];
    for (const user of this.changed) {
      const now = this.users.has(user);
      if (now === this.sent.has(user)) continue;
      if (now) { joined.push(user); this.sent.add(user); } else { left.push(user); this.sent.delete(user); }
    }
    this.changed.clear();
    if (joined.length === 0 && left.length === 0) return undefined;
    return { joined: joined.sort(), left: left.sort() };
  }
}
