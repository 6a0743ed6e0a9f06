/**
 * A push server's metrics. Labels are low-cardinality on purpose: frame types and error codes,
 * never a channel or a user.
 */
import { Counter, createRegistry, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '@chat/shared';

export class PushMetrics {
  readonly registry: Registry = createRegistry();
  readonly connections: Gauge;
  readonly joins = new Counter({ name: 'chat_joins_total', help: 'Channel joins answered with history', registers: [] });
  readonly framesIn: Counter<'type'>;
  readonly framesOut: Counter<'type'>;
  readonly errors = new Counter({ name: 'chat_errors_total', help: 'Error frames sent to clients, by code', labelNames: ['code'], registers: [] });
  readonly enqueueLatency = new Histogram({
    name: 'chat_enqueue_latency_seconds', help: 'From a message frame received to its job confirmed in Redis', buckets: LATENCY_BUCKETS, registers: [],
  });
  readonly deliveries: Counter;
  /** Messages written to member sockets: a plain count on the hot path, folded into the counters when scraped. */
  delivered = 0;
  /** `message` frames received and `ack` frames sent: plain counts on the hot path, folded in when scraped. */
  messagesIn = 0;
  acked = 0;
  /** Update checks answered from the channel's recent events here, and by a read of the store (plain counts, folded in when scraped). */
  checkedHere = 0;
  checkedInStore = 0;
  readonly updateChecks: Counter<'answered'>;
  readonly slowClientDisconnects = new Counter({ name: 'chat_slow_client_disconnects_total', help: 'Connections closed with 1013 (send buffer full)', registers: [] });
  readonly typingDropped = new Counter({ name: 'chat_typing_dropped_total', help: 'Typing notices not written to a member that reads slowly', registers: [] });
  readonly floodDisconnects = new Counter({ name: 'chat_flood_disconnects_total', help: 'Connections closed with 1008 (persistent flooding)', registers: [] });
  readonly upgradesRefused = new Counter({ name: 'chat_upgrades_refused_total', help: 'WebSocket upgrades refused, by HTTP status', labelNames: ['status'], registers: [] });
  readonly redisReconnects = new Counter({ name: 'chat_redis_reconnects_total', help: 'Redis connections restored after a loss', registers: [] });
  readonly queueWaiting: Gauge;
  readonly idleGcPause = new Histogram({
    name: 'chat_idle_gc_pause_seconds', help: 'Full garbage collections run while the server was nearly idle (see idle-gc.ts), by pause', buckets: LATENCY_BUCKETS, registers: [],
  });
  readonly gapFills = new Counter({
    name: 'chat_gap_fill_deliveries_total', labelNames: ['via'], registers: [],
    help: 'Member deliveries read from the store because pub/sub had not brought them (via: stream, check, resync)',
  });

  constructor(connections: () => number, queueWaiting: () => number) {
    // The collect functions run with `this` bound to their metric; the plain counts live here.
    const hot: Pick<PushMetrics, 'delivered' | 'acked' | 'messagesIn' | 'checkedHere' | 'checkedInStore'> = this;
    const checksSeen = { here: 0, store: 0 };
    this.updateChecks = new Counter({
      name: 'chat_update_checks_total', labelNames: ['answered'], registers: [],
      help: 'Checks of an update before its ack, by where they were answered: here (the channel\'s recent events) or store (a Redis read)',
      collect() {
        this.inc({ answered: 'here' }, hot.checkedHere - checksSeen.here); checksSeen.here = hot.checkedHere;
        this.inc({ answered: 'store' }, hot.checkedInStore - checksSeen.store); checksSeen.store = hot.checkedInStore;
      },
    });
    let framesSeen = 0;
    let deliveriesSeen = 0;
    let ackedSeen = 0;
    let messagesInSeen = 0;
    this.framesIn = new Counter({
      name: 'chat_frames_in_total', help: 'Frames received from clients, by type (invalid: failed validation)', labelNames: ['type'], registers: [],
      collect() { const n = hot.messagesIn; if (n > messagesInSeen) this.inc({ type: 'message' }, n - messagesInSeen); messagesInSeen = n; },
    });
    this.framesOut = new Counter({
      name: 'chat_frames_out_total', help: 'Frames sent to clients, by type', labelNames: ['type'], registers: [],
      collect() {
        const d = hot.delivered; this.inc({ type: 'message' }, d - framesSeen); framesSeen = d;
        const a = hot.acked; if (a > ackedSeen) this.inc({ type: 'ack' }, a - ackedSeen); ackedSeen = a;
      },
    });
    this.deliveries = new Counter({
      name: 'chat_deliveries_total', help: 'Stored messages written to member sockets', registers: [],
      collect() { const d = hot.delivered; this.inc(d - deliveriesSeen); deliveriesSeen = d; },
    });
    this.connections = new Gauge({ name: 'chat_connections', help: 'Open WebSocket connections', registers: [], collect() { this.set(connections()); } });
    this.queueWaiting = new Gauge({ name: 'chat_queue_waiting', help: 'Waiting jobs over all inbound partitions (last poll)', registers: [], collect() { this.set(queueWaiting()); } });
    const all: Array<Parameters<Registry['registerMetric']>[0]> = [
      this.connections, this.joins, this.framesIn, this.framesOut, this.errors, this.enqueueLatency, this.deliveries,
      this.slowClientDisconnects, this.typingDropped, this.floodDisconnects, this.upgradesRefused, this.redisReconnects, this.queueWaiting, this.gapFills, this.idleGcPause, this.updateChecks,
    ] as never;
    for (const m of all) this.registry.registerMetric(m);
  }
}
