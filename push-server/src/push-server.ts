/**
 * A push server: WebSocket connections and the HTTP API on one port, inbound messages into the
 * queue, and its own Redis pub/sub inbox delivered to local members.
 */
import { randomBytes } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  ChannelStore, CloseCode, parsePickupNotice, createRedis, checkEvictionPolicy, ErrorCode, errorFrame, InboundQueues, isValidChannel,
  REDIS_COMMAND_TIMEOUT_MS, RedisKeys, RedisWatch, serveMetrics, TokenVerifier, waitForRedis, type Config, type InboundMessage, type Logger, type RedisClient,
} from '@chat/shared';
import { Admission } from './admission.js';
import { AuthHook } from './auth-hook.js';
import { TrustedProxies } from './client-address.js';
import { ChannelAuthorizer } from './channel-authorizer.js';
import { ChannelHub } from './channel-hub.js';
import { ChatEvents } from './chat-events.js';
import { ServerApi } from './server-api.js';
import { ClientConnection, type ConnectionDeps } from './connection.js';
import { TypingHold } from './typing-hold.js';
import { createHttpHandler } from './http-api.js';
import { HttpAuth } from './http-auth.js';
import { Inbox } from './inbox.js';
import { RoutingRegistry } from './routing.js';
import { loadWebAssets } from './web-assets.js';
import { UpgradeGate, type GateResult } from './upgrade-gate.js';
import { PresenceStore } from './presence.js';
import { PushMetrics } from './metrics.js';
import { IdleGc } from './idle-gc.js';

/**
 * Memory read-outs published with every heartbeat (bytes): heap in use and reserved, and buffers
 * outside it. Freed objects and buffers count until V8 runs a major collection, which an idle
 * server may not do for minutes; a process started with `--expose-gc` (a diagnostic run, such as
 * the slow-reader test) collects first, so the figures are what is still reachable.
 */
function memoryReadout(): { rss: number; heapUsed: number; heapTotal: number; external: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
}


/** Error listener for upgraded sockets: the connection's own close handling covers them. */
function ignoreSocketError(): void { /* nothing to do */ }

/** The server pings every connection this often and drops one that missed two pongs. */
export const PING_INTERVAL_MS = 30_000;
/**
 * Pings go out in this many slices over the interval: pinging every connection at once made
 * thousands of pings and pongs cross at the same moment, a pause of ~150 ms under load.
 */
const PING_SLICES = 30;

export class PushServer {
  readonly keys: RedisKeys;
  private readonly redis: RedisClient;
  private readonly subscriber: RedisClient;
  /** BullMQ's connection: kept apart so its scripts do not weigh on the other commands. */
  private readonly queueRedis: RedisClient;
  private readonly store: ChannelStore;
  private readonly queues: InboundQueues;
  private readonly hub: ChannelHub;
  private readonly events: ChatEvents;
  private readonly typingHold = new TypingHold();
  private readonly idleGc: IdleGc;
  /** What every connection needs: one object shared by all of them (one per connection costs memory). */
  private readonly connectionDeps: ConnectionDeps;
  private readonly routing: RoutingRegistry;
  private readonly presence: PresenceStore;
  private readonly gate: UpgradeGate;
  private readonly verifier: TokenVerifier;
  private readonly authorizer: ChannelAuthorizer;
  readonly metrics: PushMetrics;
  private metricsServer: Server | undefined;
  /** The separate metrics port, when METRICS_PORT is set (the main port serves /metrics too). */
  metricsPort: number | undefined;
  private readonly admission: Admission;
  private readonly watch: RedisWatch;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Map<string, ClientConnection>();
  private pingTimer: NodeJS.Timeout | undefined;
  private draining = false;
  private readonly startedAt = Date.now();
  private readonly inbox: Inbox;
  /** Hands out ping slices round-robin, so each slice holds an even share of the connections. */
  private pingCursor = 0;

  constructor(private readonly config: Config, private readonly logger: Logger) {
    this.keys = new RedisKeys(config.redisPrefix, config.redisCluster);
    this.verifier = new TokenVerifier({
      secret: config.authSecret, jwksUrl: config.authJwksUrl, issuer: config.authIssuer, audience: config.authAudience,
      onJwksState: (available, error) => {
        if (available) logger.info('the identity provider\'s keys (AUTH_JWKS_URL) can be fetched again');
        else logger.error('cannot fetch the identity provider\'s keys (AUTH_JWKS_URL): tokens signed with them are refused until it answers', { error });
      },
    });
    this.authorizer = new ChannelAuthorizer(config.authHookUrl === undefined ? undefined : new AuthHook(config.authHookUrl));
    // Commands fail after a few reconnect attempts instead of waiting for Redis: a request while
    // Redis is away gets an error (and /ready says 503) rather than hanging.
    this.redis = createRedis(config, { name: `push:${config.serverId}`, logger, maxRetriesPerRequest: 3, commandTimeoutMs: REDIS_COMMAND_TIMEOUT_MS });
    this.metrics = new PushMetrics(() => this.connections.size, () => this.admission.waiting);
    this.idleGc = new IdleGc({ collected: (pause) => this.metrics.idleGcPause.observe(pause) });
    this.subscriber = createRedis(config, { name: `push-inbox:${config.serverId}`, logger, shardedSubscribers: true });
    this.inbox = new Inbox(this.subscriber, this.keys, {
      serverId: config.serverId,
      partitions: config.queuePartitions,
      onPayload: (payload) => {
        const pickup = payload.startsWith('q\n') ? parsePickupNotice(payload) : undefined;
        if (pickup) this.queues.pickedUp(pickup.partition, pickup.batch);
        else if (payload.startsWith('x\n')) this.control(payload);
        else this.hub.dispatch(payload);
      },
      onRestored: () => {
        // Route again at once, then deliver whatever was published meanwhile and restore presence.
        this.logger.info('inbox subscription restored: resynchronising');
        this.routing.heartbeat()
          .then(() => this.hub.resync())
          .catch((err: Error) => this.logger.warn('resync failed', { error: err.message }));
      },
    }, logger);
    this.store = new ChannelStore(this.redis, this.keys, config.retentionMs);
    this.queueRedis = createRedis(config, { name: `push-queue:${config.serverId}`, logger, maxRetriesPerRequest: 3, autoPipelining: false });
    this.queues = new InboundQueues(this.queueRedis, this.keys, config.queuePartitions, { origin: config.serverId, lingerMs: config.enqueueLingerMs });
    this.routing = new RoutingRegistry(this.redis, this.keys, {
      serverId: config.serverId, heartbeatMs: config.heartbeatMs, retentionMs: config.retentionMs,
    }, logger, () => this.hub.counts(), () => ({
      connections: this.connections.size,
      port: this.http.listening ? this.port : config.port,
      host: config.host,
      pid: process.pid,
      startedAt: this.startedAt,
      ...memoryReadout(),
    }), () => this.hub.checkGaps());
    this.presence = new PresenceStore(this.redis, this.keys, config.serverId, this.routing.lifetimeMs,
      config.webhookUrl === undefined ? undefined : config.webhookDebounceMs);
    // A channel's deliveries are subscribed before it is routed here, and dropped when it is not.
    const routes = {
      add: async (channel: string) => { await this.inbox.join(channel); await this.routing.add(channel); },
      remove: (channel: string) => { this.inbox.leave(channel); return this.routing.remove(channel); },
      count: (channel: string, members: number) => this.routing.count(channel, members),
    };
    this.hub = new ChannelHub(this.store, routes, this.presence, {
      historyLimit: config.historyLimit,
      presenceIntervalMs: config.presenceIntervalMs,
      // With authentication a name is a verified identity: the same user's tabs share it.
      allowSameUser: this.verifier.enabled,
      onBehind: (channel) => this.inbox.refresh(channel),
      onGapFilled: (via, deliveries) => this.metrics.gapFills.inc({ via }, deliveries),
    }, logger);
    this.events = new ChatEvents(this.store, (err) => logger.debug('typing not forwarded', { error: err.message }),
      (channel, seq) => this.hub.recentTarget(channel, seq, Date.now() - config.retentionMs), this.metrics);
    this.connectionDeps = {
      hub: this.hub,
      authorizer: this.authorizer,
      verifier: this.verifier,
      enqueue: (m) => this.enqueue(m),
      events: this.events,
      typingHold: this.typingHold,
      logger,
      maxTextBytes: config.maxTextBytes,
      rateLimit: config.rateLimit,
      rateBurst: config.rateBurst,
      maxChannels: config.maxChannelsPerConnection,
      maxSendBufferBytes: config.maxSendBufferBytes,
      metrics: this.metrics,
      closed: (conn) => { this.connections.delete(conn.id); this.gate.closed(conn.address); },
    };
    this.http = createServer(createHttpHandler({
      serverId: config.serverId,
      redis: this.redis,
      keys: this.keys,
      store: this.store,
      historyLimit: config.historyLimit,
      logger,
      notReady: () => this.notReady(),
      assets: loadWebAssets(),
      metrics: this.metrics.registry,
      auth: new HttpAuth(this.verifier, config.serverApiKey),
      presence: this.presence,
      serverApi: config.serverApiKey === undefined ? undefined : new ServerApi({
        key: config.serverApiKey, store: this.store, maxTextBytes: config.maxTextBytes,
        enqueue: (m) => this.enqueue(m), disconnect: (user) => this.disconnectEverywhere(user),
        requestsPerSecond: Math.max(100, config.rateLimit * 50),
      }),
      authorizer: this.authorizer,
    }));
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      // Text is limited to MAX_TEXT_BYTES; JSON escaping can grow it up to 6x. Larger frames
      // are refused by ws with close code 1009.
      maxPayload: Math.max(64 * 1024, config.maxTextBytes * 6 + 1024),
    });
    this.gate = new UpgradeGate({
      verifier: this.verifier, allowedOrigins: config.allowedOrigins, maxConnectionsPerIp: config.maxConnectionsPerIp,
      proxies: new TrustedProxies(config.trustProxy),
    });
    this.admission = new Admission(this.redis, this.queues, config.queueHighWater, logger, () => this.watch.answering);
    this.watch = new RedisWatch(this.redis, config.redisCutoffMs, () => {
      for (const conn of this.connections.values()) conn.close(CloseCode.TryAgainLater, 'cut off from Redis: reconnect to another push server');
    }, logger, {
      cutOff: 'cut off from Redis: closing connections so that clients move to another push server',
      restored: 'Redis answers again: accepting connections',
    });
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  /** Why `/ready` answers 503 now (draining, cut off, Redis silent or not connected); undefined when it takes traffic. */
  notReady(): string | undefined {
    const why = this.unavailable;
    if (why) return why;
    if (!this.watch.answering) return 'Redis does not answer'; // as the worker's /ready says it
    if (this.redis.status !== 'ready' || this.subscriber.status !== 'ready' || this.queueRedis.status !== 'ready') return 'not connected to Redis';
    return undefined;
  }

  /** Why new connections are refused now, if they are. */
  private get unavailable(): string | undefined {
    if (this.draining) return 'draining';
    if (this.watch.cutOff) return 'cut off from Redis';
    return undefined;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  async start(): Promise<number> {
    await waitForRedis(this.redis, this.config.redisUrl, 10_000);
    for (const client of [this.redis, this.subscriber, this.queueRedis]) {
      let lost = false;
      client.on('close', () => { lost = true; });
      client.on('ready', () => { if (lost) this.metrics.redisReconnects.inc(); lost = false; });
    }
    await checkEvictionPolicy(this.redis, this.logger);
    await this.inbox.start();
    await this.routing.start();
    this.admission.start();
    this.watch.start();
    this.idleGc.start();
    this.hub.startPresenceSweeps(Math.max(25, Math.round(this.config.heartbeatMs / 2)));
    let slice = 0;
    this.pingTimer = setInterval(() => { this.pingSlice(slice); slice = (slice + 1) % PING_SLICES; }, PING_INTERVAL_MS / PING_SLICES);
    this.pingTimer.unref();
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.config.port, this.config.host, () => { this.http.off('error', reject); resolve(); });
    });
    if (this.config.metricsPort !== undefined) {
      const served = await serveMetrics(this.metrics.registry, this.config.metricsPort, this.config.host);
      this.metricsServer = served.server;
      this.metricsPort = served.port;
    }
    this.logger.info('listening', { port: this.port, host: this.config.host, metricsPort: this.metricsPort });
    return this.port;
  }

  /**
   * Drains: answers /ready with 503 and refuses new sockets, leaves routing, lets every message
   * already received reach the queue (its ack is sent if the socket is still open), closes the
   * sockets with 1001 so clients reconnect elsewhere and resume with `since`, then disconnects.
   */
  async stop(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.hub.stop();
    this.events.stop();
    this.typingHold.stop();
    this.idleGc.stop();
    this.inbox.stop();
    this.admission.stop();
    this.watch.stop();
    // Until the sockets are closed the HTTP server stays up, answering /ready with 503 and
    // refusing upgrades, so a load balancer sees the drain rather than a refused connection.
    await this.routing.unregister(this.hub.channelNames()).catch((err: Error) =>
      this.logger.warn('could not leave routing; routes expire after 3 heartbeats', { error: err.message }));
    await this.queues.drain();
    for (const conn of this.connections.values()) {
      conn.close(CloseCode.GoingAway, 'server shutting down: reconnect');
      conn.dispose(); // frees its names now, while Redis is still connected
    }
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await closed;
    await this.queues.close();
    this.metricsServer?.close();
    await Promise.allSettled([this.subscriber.quit(), this.redis.quit(), this.queueRedis.quit()]);
    this.logger.info('stopped');
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // A client that vanishes mid-handshake is no error of ours. The listener is not a closure of
    // this method: it stays on the socket for the connection's life, and a closure would keep
    // the method's scope (the request, its headers, the head buffer) alive with it.
    socket.on('error', ignoreSocketError);
    this.gate.check(req, this.unavailable).then((result) => {
      if (socket.destroyed) return;
      if (!result.ok) {
        this.metrics.upgradesRefused.inc({ status: String(result.status) });
        const body = `${result.reason}\n`;
        socket.end(`HTTP/1.1 ${result.status} ${STATUS_CODES[result.status] ?? 'Error'}\r\nConnection: close\r\n` +
          `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, result));
    }).catch((err: Error) => {
      this.logger.warn('upgrade failed', { error: err.message });
      socket.destroy();
    });
  }

  private accept(ws: WebSocket, admitted: Extract<GateResult, { ok: true }>): void {
    if (this.draining) {
      // The handshake finished after the drain began: send this client elsewhere too.
      ws.close(CloseCode.GoingAway, 'server shutting down: reconnect');
      return;
    }
    const { identity, session, channels } = admitted;
    const id = randomBytes(6).toString('base64url');
    this.gate.opened(admitted.address);
    const conn = new ClientConnection(id, identity, session, ws, this.connectionDeps, admitted.address);
    conn.pingSlice = this.pingCursor++ % PING_SLICES;
    this.connections.set(id, conn);
    conn.send({
      type: 'welcome', connectionId: id, serverId: this.config.serverId, user: identity.user,
      historyLimit: this.config.historyLimit, maxTextBytes: this.config.maxTextBytes,
    });
    const valid = channels.filter((c) => {
      if (isValidChannel(c)) return true;
      conn.send(errorFrame(ErrorCode.InvalidChannel, `"${c.slice(0, 80)}" is not a valid channel name`, { channel: c.slice(0, 80) }));
      return false;
    });
    conn.joinAll(valid);
  }

  /** Tells every live push server (this one too) to close `user`'s connections with 4003. */
  private async disconnectEverywhere(user: string): Promise<void> {
    const servers = await RoutingRegistry.liveServers(this.redis, this.keys);
    const payload = `x\ndisconnect\n${user}`;
    await Promise.all(servers.map((server) => {
      const channel = this.keys.serverControl(server);
      return this.keys.sharded ? this.redis.spublish(channel, payload) : this.redis.publish(channel, payload);
    }));
  }

  /** A control message from the server API: "x\ndisconnect\n<user>". */
  private control(payload: string): void {
    const [, action, user] = payload.split('\n');
    if (action !== 'disconnect' || user === undefined) return;
    for (const conn of this.connections.values()) {
      if (conn.user === user) conn.close(CloseCode.Disconnected, 'disconnected by the application');
    }
    this.logger.info('disconnected a user through the server API', { user });
  }

  /** Enqueues one message unless Redis is away or the queue is past its high-water mark. */
  private async enqueue(message: InboundMessage): Promise<void> {
    const done = this.metrics.enqueueLatency.startTimer();
    await this.admission.enqueue(message);
    done();
  }

  /** Pings one slice of the connections: each is pinged once per PING_INTERVAL_MS. */
  private pingSlice(slice: number): void {
    for (const conn of this.connections.values()) {
      if (conn.pingSlice !== slice) continue;
      if (conn.missedPongs >= 2) { conn.terminate(); continue; }
      conn.missedPongs++;
      conn.ping();
    }
  }
}
