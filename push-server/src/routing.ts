/**
 * The routing registry in Redis: which live push servers have members in which chat channel.
 *
 * Each route is a member of the channel's `routes` sorted set scored with its expiry on Redis's
 * clock. A heartbeat re-scores every route of this server and its entry in the push-server set;
 * a server that stops heart-beating drops out of routing after 3 heartbeats, and workers skip
 * (and delete) expired routes. Every key has a TTL, so nothing outlives the servers using it.
 */
import { RedisClock, type Logger, type RedisClient, type RedisKeys } from '@chat/shared';
import { inChunks } from './chunks.js';

export interface RoutingOptions {
  serverId: string;
  heartbeatMs: number;
  retentionMs: number;
}

/**
 * How many heartbeats a route outlives its last refresh. Presence sweeps run every half
 * heartbeat, so a dead server's routes and names are gone within 3 heartbeats of its last one.
 */
export const ROUTE_LIFETIME_BEATS = 2.5;

export class RoutingRegistry {
  private readonly clock: RedisClock;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly options: RoutingOptions,
    private readonly logger: Logger,
    /** Local member count of every channel with members on this server. */
    private readonly channelCounts: () => Map<string, number>,
    /** Read-outs published with every heartbeat (connections, address, …). */
    private readonly info: () => Record<string, string | number> = () => ({}),
    /** Runs after every heartbeat (the hub's gap check). */
    private readonly afterBeat: () => Promise<void> = async () => undefined,
  ) {
    this.clock = new RedisClock(redis);
  }

  get lifetimeMs(): number {
    return Math.round(this.options.heartbeatMs * ROUTE_LIFETIME_BEATS);
  }

  /**
   * How long a routed channel's seq counter is kept from each renewal: the retention, but never
   * less than a route's lifetime, so it outlives the gap to the next heartbeat whatever
   * RETENTION_MS is.
   */
  get seqLifetimeMs(): number {
    return Math.max(this.options.retentionMs, this.lifetimeMs);
  }

  /** Registers this server and starts the heartbeat. */
  async start(): Promise<void> {
    await this.heartbeat();
    this.timer = setInterval(() => {
      if (this.beating) return;
      this.beating = this.heartbeat()
        .then(() => this.afterBeat())
        .catch((err: Error) => { this.logger.warn('heartbeat failed', { error: err.message }); })
        .finally(() => { this.beating = undefined; });
    }, this.options.heartbeatMs);
    this.timer.unref();
  }

  /** Routes the channel's messages to this server; resolves once workers will see the route. */
  async add(channel: string): Promise<void> {
    const expiry = this.clock.now() + this.lifetimeMs;
    const routes = this.keys.channelRoutes(channel);
    await Promise.all([
      this.redis.zadd(routes, expiry, this.options.serverId),
      this.redis.pexpire(routes, this.lifetimeMs),
      this.redis.pexpire(this.keys.channelSeq(channel), this.seqLifetimeMs),
      this.count(channel, this.channelCounts().get(channel) ?? 1),
    ]);
  }

  /** Records a change of the channel's local member count. */
  async count(channel: string, members: number): Promise<void> {
    const key = this.keys.serverChannels(this.options.serverId);
    // Every write renews the expiry: a server killed before its next heartbeat leaves nothing behind.
    await Promise.all([this.redis.hset(key, channel, members), this.redis.pexpire(key, this.lifetimeMs)]);
  }

  /** Stops routing the channel to this server (its last local member left). */
  async remove(channel: string): Promise<void> {
    await Promise.all([
      this.redis.zrem(this.keys.channelRoutes(channel), this.options.serverId),
      this.redis.hdel(this.keys.serverChannels(this.options.serverId), channel),
    ]);
  }

  /** Re-scores every route of this server and keeps its channels' seq counters alive. */
  async heartbeat(): Promise<void> {
    await this.clock.sync();
    const expiry = this.clock.now() + this.lifetimeMs;
    const id = this.options.serverId;
    const serverChannels = this.keys.serverChannels(id);
    await Promise.all([
      this.redis.zadd(this.keys.pushServers(), expiry, id),
      this.redis.zremrangebyscore(this.keys.pushServers(), '-inf', this.clock.now()),
    ]);
    await inChunks(this.channelCounts(), ([channel, members]) => {
      const routes = this.keys.channelRoutes(channel);
      return Promise.all([
        this.redis.zadd(routes, expiry, id),
        this.redis.pexpire(routes, this.lifetimeMs),
        // A channel's seq must never go back while members are connected, even when all its
        // messages aged out: keep the counter alive as long as anyone is in the channel.
        this.redis.pexpire(this.keys.channelSeq(channel), this.seqLifetimeMs),
        this.redis.hset(serverChannels, channel, members),
      ]);
    });
    const info = this.keys.serverInfo(id);
    await Promise.all([
      this.redis.pexpire(serverChannels, this.lifetimeMs),
      this.redis.pexpire(this.keys.pushServers(), this.lifetimeMs),
      this.redis.hset(info, { ...this.info(), heartbeatAt: this.clock.now() }),
      this.redis.pexpire(info, this.lifetimeMs),
    ]);
  }

  /** Removes this server from routing at once (clean shutdown). */
  async unregister(channels: Iterable<string>): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.beating;
    const writes: Promise<unknown>[] = [
      this.redis.zrem(this.keys.pushServers(), this.options.serverId),
      this.redis.del(this.keys.serverChannels(this.options.serverId)),
      this.redis.del(this.keys.serverInfo(this.options.serverId)),
    ];
    for (const channel of channels) writes.push(this.redis.zrem(this.keys.channelRoutes(channel), this.options.serverId));
    await Promise.all(writes);
  }

  /** The ids of the live push servers (heart-beating). */
  static async liveServers(redis: RedisClient, keys: RedisKeys): Promise<string[]> {
    const clock = new RedisClock(redis);
    await clock.sync();
    return redis.zrangebyscore(keys.pushServers(), clock.now(), '+inf');
  }

  /** Channels with members on any live push server. */
  static async channelsInUse(redis: RedisClient, keys: RedisKeys): Promise<string[]> {
    const servers = await RoutingRegistry.liveServers(redis, keys);
    const lists = await Promise.all(servers.map((s) => redis.hkeys(keys.serverChannels(s))));
    return [...new Set(lists.flat())];
  }
}
