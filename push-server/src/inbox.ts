/**
 * This push server's pub/sub inbox: where workers and the presence scripts reach it.
 *
 * On one Redis it is a single channel, `chat:inbox:<server>`, carrying everything. On a Redis
 * Cluster, classic PUBLISH is broadcast to every node, so delivery uses sharded pub/sub: one
 * shard channel per chat channel with members here (`chat:ch:{name}:inbox:<server>`, in that
 * channel's slot, so its Lua step SPUBLISHes on its own node), plus one per queue partition for
 * the workers' pickup notices. Shard subscriptions follow the routes: taken before a channel is
 * routed here, dropped when its last member leaves.
 *
 * A subscription that was lost and restored may have missed payloads: `onRestored` fires, and the
 * hub re-reads its channels from the store.
 */
import type { Cluster } from 'ioredis';
import type { Logger, RedisClient, RedisKeys } from '@chat/shared';

export interface InboxOptions {
  serverId: string;
  partitions: number;
  /** Every payload received: message frames, presence events, pickup notices. */
  onPayload(payload: string): void;
  /** The subscription came back after a loss: payloads may have been missed. */
  onRestored(): void;
}

export class Inbox {
  private started = false;
  private restoreTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly subscriber: RedisClient,
    private readonly keys: RedisKeys,
    private readonly options: InboxOptions,
    private readonly logger: Logger,
  ) {}

  private get cluster(): Cluster {
    return this.subscriber as Cluster;
  }

  async start(): Promise<void> {
    const { serverId, partitions, onPayload } = this.options;
    if (this.keys.sharded) {
      this.cluster.on('smessage', (_channel: string, payload: string) => onPayload(payload));
      // A shard subscriber connection was (re)created: it resubscribes, but may have missed some.
      this.cluster.on('+subscriber', () => this.restored());
      for (let p = 0; p < partitions; p++) await this.cluster.ssubscribe(this.keys.pickupChannel(p, serverId));
    } else {
      this.subscriber.on('message', (_channel: string, payload: string) => onPayload(payload));
      this.subscriber.on('ready', () => this.restored());
      await this.subscriber.subscribe(this.keys.serverInbox(serverId));
    }
    this.started = true;
  }

  /** Subscribes to a chat channel's deliveries (cluster); resolves once subscribed. */
  async join(channel: string): Promise<void> {
    if (this.keys.sharded) await this.cluster.ssubscribe(this.keys.channelInbox(channel, this.options.serverId));
  }

  /**
   * Drops a chat channel's subscription (cluster). Issued at once, so a later `join` of the same
   * channel reaches Redis after it.
   */
  leave(channel: string): void {
    if (!this.keys.sharded) return;
    this.cluster.sunsubscribe(this.keys.channelInbox(channel, this.options.serverId))
      .catch((err: Error) => this.logger.debug('sunsubscribe failed', { channel, error: err.message }));
  }

  /**
   * Subscribes again to a channel that fell behind (cluster): a shard subscription can be lost
   * silently across a failover. SSUBSCRIBE of a channel already subscribed is harmless.
   */
  refresh(channel: string): void {
    this.join(channel).catch(() => undefined);
  }

  private restored(): void {
    if (!this.started || this.restoreTimer) return;
    // Coalesce a burst (several shard subscribers come back together) into one resync.
    this.restoreTimer = setTimeout(() => { this.restoreTimer = undefined; this.options.onRestored(); }, 100);
    this.restoreTimer.unref();
  }

  stop(): void {
    if (this.restoreTimer) clearTimeout(this.restoreTimer);
  }
}
