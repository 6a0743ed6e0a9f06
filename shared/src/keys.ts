/**
 * Every Redis key, queue name and pub/sub channel name, built in one place from one prefix.
 *
 * All keys of one chat channel share the hash tag `{<channel>}` so that its Lua step touches one
 * cluster slot. Channel names cannot contain braces (see CHANNEL_PATTERN), so the tag is exact.
 */
export class RedisKeys {
  /**
   * @param sharded delivery uses sharded pub/sub (Redis Cluster): per chat channel and push
   *   server, a shard channel in the chat channel's slot, so the Lua steps SPUBLISH on their own
   *   node instead of PUBLISH being broadcast to every node.
   */
  constructor(readonly prefix: string = 'chat', readonly sharded = false) {}

  /** ZSET of a channel's stored messages: score = seq, member = the message frame's JSON. */
  channelMessages(channel: string): string { return `${this.prefix}:ch:{${channel}}:msgs`; }
  /** STRING counter: the last seq assigned in the channel. */
  channelSeq(channel: string): string { return `${this.prefix}:ch:{${channel}}:seq`; }
  /** ZSET of the de-duplication keys (`author \n id`) stored in the channel: score = time stored. */
  channelIds(channel: string): string { return `${this.prefix}:ch:{${channel}}:ids`; }
  /** ZSET of a channel's stored updates (edit, delete, react, unreact): score = seq, member = the update frame. */
  channelEvents(channel: string): string { return `${this.prefix}:ch:{${channel}}:events`; }
  /** HASH user → read marker (seq); expires RETENTION_MS after the last change. */
  channelReads(channel: string): string { return `${this.prefix}:ch:{${channel}}:reads`; }
  /** STRING set for 2 s after a user's typing was forwarded in the channel (the typing window). */
  channelTyping(channel: string, user: string): string { return `${this.prefix}:ch:{${channel}}:typing:${user}`; }
  /** LIST of the channel's webhook events not yet delivered, oldest first (its outbox). */
  channelHooks(channel: string): string { return `${this.prefix}:ch:{${channel}}:hooks`; }
  /** HASH of the channel's webhook state: occupancy and the debounced member.left / channel.vacated deadlines. */
  channelHookState(channel: string): string { return `${this.prefix}:ch:{${channel}}:hookstate`; }
  /** ZSET of the push servers with members in the channel: score = expiry (Redis clock, ms). */
  channelRoutes(channel: string): string { return `${this.prefix}:ch:{${channel}}:routes`; }

  /** HASH user → number of connections holding the name in the channel. */
  channelPresence(channel: string): string { return `${this.prefix}:ch:{${channel}}:presence`; }
  /** HASH `server \t connection` → user: who holds which name. */
  channelHolders(channel: string): string { return `${this.prefix}:ch:{${channel}}:holders`; }
  /** HASH server → number of holders it has in the channel (finds a dead server's names). */
  channelHolderServers(channel: string): string { return `${this.prefix}:ch:{${channel}}:hservers`; }

  /** HASH user → the client session holding the name (lets that session reconnect at once). */
  channelSessions(channel: string): string { return `${this.prefix}:ch:{${channel}}:sessions`; }

  /** The presence keys of a channel in the order the presence scripts take them. */
  presenceKeys(channel: string): string[] {
    return [
      this.channelPresence(channel), this.channelHolders(channel), this.channelHolderServers(channel),
      this.channelRoutes(channel), this.channelSessions(channel), this.channelHookState(channel), this.channelHooks(channel),
    ];
  }

  /** The keys of a channel in the order the persist script takes them. */
  channelKeys(channel: string): [string, string, string, string, string, string] {
    return [
      this.channelMessages(channel), this.channelSeq(channel), this.channelIds(channel), this.channelRoutes(channel),
      this.channelEvents(channel), this.channelHooks(channel),
    ];
  }

  /**
   * ZSET of channels whose webhook outbox needs the dispatcher: score = when (ms). The dispatcher's
   * keys share one hash tag, so that its claim script reads them together on a cluster too.
   */
  hooksDue(): string { return `{${this.prefix}:hooks}:due`; }
  /** ZSET of channels a dispatcher loop is working on: score = lease expiry (Redis clock, ms). */
  hooksLeases(): string { return `{${this.prefix}:hooks}:leases`; }
  /** HASH channel → JSON { attempts, firstFailure, nextAt, error } while its oldest batch is being retried. */
  hooksRetry(): string { return `{${this.prefix}:hooks}:retry`; }
  /** LIST of batches given up after the retry horizon: JSON { channel, events, error, failedAt }. */
  hooksFailed(): string { return `{${this.prefix}:hooks}:failed`; }

  /** Pub/sub channel on which one push server receives everything routed to it (one Redis). */
  serverInbox(serverId: string): string { return `${this.serverInboxPrefix()}${serverId}`; }
  serverInboxPrefix(): string { return `${this.prefix}:inbox:`; }
  /** Shard channel on which one push server receives one chat channel's messages and presence (cluster). */
  channelInbox(channel: string, serverId: string): string { return `${this.channelInboxPrefix(channel)}${serverId}`; }
  channelInboxPrefix(channel: string): string { return `${this.prefix}:ch:{${channel}}:inbox:`; }

  /**
   * How the Lua steps reach the push servers routed in `channel`: `PUBLISH <prefix>` or
   * `SPUBLISH <prefix>`, the server id completing the channel name (see `lua/includes/inbox.lua`).
   */
  inboxRoute(channel: string): string {
    return this.sharded ? `SPUBLISH ${this.channelInboxPrefix(channel)}` : `PUBLISH ${this.serverInboxPrefix()}`;
  }

  /** Where workers announce taking a producer's job of `partition`: its inbox, or a shard channel in the queue's slot. */
  pickupChannel(partition: number, serverId: string): string {
    return this.sharded ? `${this.queuePrefix(partition)}:pickup:${serverId}` : this.serverInbox(serverId);
  }

  /**
   * Where one push server hears control messages (a server-API disconnect): its inbox on one
   * Redis; on a cluster, the shard channel of its partition-0 pickups, which it always holds.
   */
  serverControl(serverId: string): string {
    return this.sharded ? this.pickupChannel(0, serverId) : this.serverInbox(serverId);
  }

  /** ZSET of live push servers: score = expiry (Redis clock, ms). */
  pushServers(): string { return `${this.prefix}:push-servers`; }
  /** HASH channel → local member count of one push server; expires with the server's heartbeat. */
  serverChannels(serverId: string): string { return `${this.prefix}:push-server:${serverId}:channels`; }
  /** HASH of one push server's read-outs (connections, address, start time); expires with its heartbeat. */
  serverInfo(serverId: string): string { return `${this.prefix}:push-server:${serverId}:info`; }
  /** ZSET of live queue workers: score = expiry (Redis clock, ms). */
  workers(): string { return `${this.prefix}:workers`; }
  /** ZSET of workers taking part in partition leases: score = expiry (Redis clock, ms), renewed every lease tick. */
  leaseCandidates(): string { return `${this.prefix}:lease-workers`; }
  /** HASH of one worker's counters (jobs, stored, duplicates, failed); expires with its heartbeat. */
  workerInfo(workerId: string): string { return `${this.prefix}:worker:${workerId}:info`; }

  /**
   * BullMQ key prefix of inbound queue partition `p`. Braced so that all of one queue's keys share
   * a cluster slot while different partitions land on different slots (and nodes).
   */
  queuePrefix(partition: number): string { return `{${this.prefix}:q${partition}}`; }
  /** STRING: the id of the worker consuming partition `p` (a lease with an expiry, in the queue's slot). */
  partitionLease(partition: number): string { return `${this.queuePrefix(partition)}:owner`; }
  /** Name of inbound queue partition `p`. */
  queueName(partition: number): string { return `inbound-${partition}`; }
}
