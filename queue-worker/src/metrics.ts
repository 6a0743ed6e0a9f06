/**
 * A worker's metrics, served on METRICS_PORT (`GET /metrics`, `GET /health`) by serveMetrics.
 */
import { Counter, createRegistry, Gauge, Histogram, LATENCY_BUCKETS, type InboundQueues, type RedisClient, type RedisKeys, type Registry } from '@chat/shared';

export class WorkerMetrics {
  readonly registry: Registry = createRegistry();
  readonly jobs = new Counter({ name: 'chat_jobs_processed_total', help: 'Inbound jobs processed', registers: [] });
  readonly jobsFailed = new Counter({ name: 'chat_jobs_failed_total', help: 'Inbound jobs failed (data that can never be stored)', registers: [] });
  readonly stored = new Counter({ name: 'chat_messages_stored_total', help: 'Messages stored and routed', registers: [] });
  readonly duplicates = new Counter({ name: 'chat_messages_duplicate_total', help: 'Messages skipped as already stored (retries)', registers: [] });
  readonly dropped = new Counter({ name: 'chat_updates_dropped_total', help: 'Updates that changed nothing when stored (target deleted or trimmed, a no-op reaction)', registers: [] });
  readonly jobDuration = new Histogram({ name: 'chat_job_duration_seconds', help: 'Time to persist and route one job', buckets: LATENCY_BUCKETS, registers: [] });
  readonly endToEnd = new Histogram({
    name: 'chat_enqueue_to_publish_seconds', help: 'From a message received by its producer to it stored and published (producer and worker clocks)',
    buckets: LATENCY_BUCKETS, registers: [],
  });
  readonly redisReconnects = new Counter({ name: 'chat_redis_reconnects_total', help: 'Redis connections restored after a loss', registers: [] });
  readonly queueJobs: Gauge<'state'>;
  readonly webhookRequests = new Counter({ name: 'chat_webhook_requests_total', help: 'Webhook requests, by result (ok, error, timeout)', labelNames: ['result'], registers: [] });
  readonly webhookEvents = new Counter({ name: 'chat_webhook_events_delivered_total', help: 'Webhook events the endpoint acknowledged', registers: [] });
  readonly webhookFailed = new Counter({ name: 'chat_webhook_events_failed_total', help: 'Webhook events given up after 24 h of retries', registers: [] });
  readonly webhookLatency = new Histogram({ name: 'chat_webhook_request_seconds', help: 'Time for the webhook endpoint to answer a request', buckets: LATENCY_BUCKETS, registers: [] });

  constructor(queues: InboundQueues) {
    this.queueJobs = new Gauge({
      name: 'chat_queue_jobs', help: 'Inbound jobs by state over all partitions', labelNames: ['state'], registers: [],
      async collect() {
        const counts = await queues.counts();
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    const all = [
      this.jobs, this.jobsFailed, this.stored, this.duplicates, this.dropped, this.jobDuration, this.endToEnd, this.redisReconnects, this.queueJobs,
      this.webhookRequests, this.webhookEvents, this.webhookFailed, this.webhookLatency,
    ];
    for (const m of all) this.registry.registerMetric(m as never);
  }

  /** Gauges of the webhook backlog (shared by all workers), read at each scrape. */
  watchWebhooks(redis: RedisClient, keys: RedisKeys): void {
    const backlog = new Gauge({
      name: 'chat_webhook_backlog', help: 'Webhook deliveries by state: channels pending, channels retrying, batches failed', labelNames: ['state'], registers: [],
      async collect() {
        const [pending, retrying, failed] = await Promise.all([redis.zcard(keys.hooksDue()), redis.hlen(keys.hooksRetry()), redis.llen(keys.hooksFailed())]);
        this.set({ state: 'pending' }, pending);
        this.set({ state: 'retrying' }, retrying);
        this.set({ state: 'failed' }, failed);
      },
    });
    this.registry.registerMetric(backlog as never);
  }
}
