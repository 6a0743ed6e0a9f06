/**
 * Delivers chat events to the application's webhook endpoint (SPEC §8).
 *
 * Events are written to their channel's outbox (a Redis LIST in the channel's slot) in the same
 * atomic step as the change they describe: stored messages and updates by the persist script,
 * member and channel events by the presence scripts (debounced ones by hooks-take-3.lua when
 * due). A ZSET names the channels whose outbox needs attention, scored by when; another holds
 * leases, so that one loop at a time works on a channel. Each worker runs WEBHOOK_CONCURRENCY
 * loops that lease a due channel, POST up to 100 of its oldest events (signed), and remove them
 * once the endpoint answers 2xx within 5 s. Healthy channels share requests (up to 100 events
 * from up to 50 channels), which keeps the request rate far below the event rate. A shared
 * request that fails, or is not answered within SHARED_TIMEOUT_MS, is sent again at once as one
 * request per channel; a channel whose own request failed is retried on its own from then on, so
 * a failing or hanging channel holds back only itself. A failed batch is retried
 * with exponential backoff (1 s doubling to 5 min) for 24 h and holds back its channel's later
 * events, so a channel's events arrive in order; other channels go on. After 24 h the batch
 * moves to the failed list (`chat-producer webhooks --retry` queues it again).
 *
 * It runs in a thread of its own (webhook-thread.ts), with its own Redis connection.
 *
 * This is not a BullMQ queue on purpose: BullMQ retries a job without holding back the jobs
 * behind it, and per-channel order across retries is part of the contract. It shares nothing
 * with chat delivery but the Redis server: a slow, failing or hanging endpoint only backs up
 * its own outboxes.
 */
import { createHmac } from 'node:crypto';
import { callScript, registerScripts, type Logger, type RedisClient, type RedisKeys } from '@chat/shared';
import { HttpPoster, TimeoutError } from './http-post.js';

/** Events per request. */
export const WEBHOOK_BATCH = 100;
/** A request not answered 2xx within this is a failure. */
export const WEBHOOK_TIMEOUT_MS = 5000;
/** How long a failing batch is retried before it is given up (failed list). */
export const WEBHOOK_RETRY_HORIZON_MS = 24 * 3600 * 1000;
/** A leased channel not finished within this is taken up by another loop (its worker died). */
const LEASE_MS = 30_000;
/** Idle loops look for due channels this often. */
const POLL_MS = 100;
/** Batches one lease sends before the channel goes back in line (fairness between channels). */
const BATCHES_PER_LEASE = 10;
/** Channels one request may carry events of (healthy channels share requests; see `work`). */
const CHANNELS_PER_CLAIM = 50;
/**
 * A shared request not answered 2xx this soon is given up at once and each of its channels is
 * sent on its own: one hanging channel delays the others it shared a request with by at most this.
 */
export const SHARED_TIMEOUT_MS = 1000;

export function backoffMs(attempt: number): number {
  return Math.min(1000 * 2 ** Math.max(0, attempt - 1), 300_000);
}

/** The signature header of a request body sent at `timestamp` (SPEC §8). */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** A healthy channel's oldest events, and whether its outbox held more than those. */
interface Outbox { channel: string; events: string[]; more: boolean }

interface RetryState { attempts: number; firstFailure: number; nextAt: number; error: string }

/** What the dispatcher counts (the worker's metrics, or a thread's tally sent to them). */
export interface DispatchMetrics {
  delivered(events: number): void;
  failed(events: number): void;
  request(result: 'ok' | 'error' | 'timeout', seconds: number): void;
}

export interface DispatcherOptions {
  url: string;
  secret: string;
  concurrency: number;
}

export class WebhookDispatcher {
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly http: HttpPoster;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly options: DispatcherOptions,
    private readonly metrics: DispatchMetrics,
    private readonly logger: Logger,
    /** Redis's clock (the due and lease scores are on it). */
    private readonly now: () => number = Date.now,
  ) {
    // Before any command: an auto-pipeline built earlier would lack the script commands.
    registerScripts(redis);
    this.http = new HttpPoster(options.url);
  }

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.options.concurrency }, () => this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.http.close();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let channels: string[] = [];
      let full = false;
      try {
        const claimed = await callScript<Array<[string, string]>>(this.redis, 'chatHooksClaim',
          [this.keys.hooksDue(), this.keys.hooksLeases(), this.keys.hooksRetry()], [LEASE_MS, CHANNELS_PER_CLAIM]);
        channels = claimed.map(([c]) => c);
        if (claimed.length > 0) full = (await this.work(claimed)) || claimed.length >= CHANNELS_PER_CLAIM;
      } catch (err) {
        this.logger.warn('webhook dispatch failed', { channels: channels.slice(0, 5), error: (err as Error).message });
        for (const c of channels) await this.redis.zadd(this.keys.hooksDue(), 'LT', this.now() + 1000, c).catch(() => undefined);
      } finally {
        if (channels.length > 0) await this.redis.zrem(this.keys.hooksLeases(), ...channels).catch(() => undefined);
      }
      // Unless there is a backlog, wait: what becomes due meanwhile goes out together, in
      // few requests, instead of one request per event.
      if (!full) await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /**
   * Sends what is due in the leased channels: the ones retrying a failed batch each on its own
   * (when their backoff allows), the others together.
   */
  /** Returns whether a request was full (a backlog: claim again at once). */
  private async work(claimed: Array<[string, string]>): Promise<boolean> {
    const healthy: Outbox[] = [];
    const alone: Promise<unknown>[] = [];
    // Each channel is ours (leased): one script per channel, all side by side, in few writes.
    await Promise.all(claimed.map(async ([channel, rawRetry]) => {
      const retry = rawRetry ? JSON.parse(rawRetry) as RetryState : undefined;
      if (retry && retry.nextAt > this.now()) {
        await this.redis.zadd(this.keys.hooksDue(), 'LT', retry.nextAt, channel);
        return;
      }
      const [pending, length, ...events] = await this.take(channel, WEBHOOK_BATCH);
      if (Number(pending) > 0) await this.redis.zadd(this.keys.hooksDue(), 'LT', Number(pending), channel);
      if (retry) alone.push(this.workAlone(channel, retry, events as string[]));
      else if (events.length > 0) healthy.push({ channel, events: events as string[], more: Number(length) > events.length });
    }));
    const [full] = await Promise.all([this.workTogether(healthy), ...alone]);
    return full === true;
  }

  /** Flushes the channel's due debounced events into its outbox and reads its oldest `limit` events. */
  private take(channel: string, limit: number): Promise<[number, number, ...string[]]> {
    return callScript<[number, number, ...string[]]>(this.redis, 'chatHooksTake',
      [this.keys.channelPresence(channel), this.keys.channelHookState(channel), this.keys.channelHooks(channel)], [channel, limit]);
  }

  /** One request for the oldest events of several healthy channels (at most WEBHOOK_BATCH in all); returns whether it was full. */
  private async workTogether(outboxes: Outbox[]): Promise<boolean> {
    if (outboxes.length === 0) return false;
    const taken: Outbox[] = [];
    let room = WEBHOOK_BATCH;
    const later: string[] = [];
    for (const { channel, events: all, more } of outboxes) {
      const events = all.slice(0, room);
      if (events.length === 0) { later.push(channel); continue; }
      taken.push({ channel, events, more: more || events.length < all.length });
      room -= events.length;
    }
    // Channels left out (the request is full): back in line.
    await Promise.all(later.map((c) => this.redis.zadd(this.keys.hooksDue(), 'LT', this.now(), c)));
    const error = await this.post(taken.flatMap((t) => t.events), taken.length > 1 ? SHARED_TIMEOUT_MS : WEBHOOK_TIMEOUT_MS);
    if (error !== undefined && taken.length > 1) {
      // Each on its own now, side by side: the channels that are fine go through at once.
      await Promise.all(taken.map(({ channel }) => this.workAlone(channel, undefined)));
      return false;
    }
    await Promise.all(taken.map(async ({ channel, events, more }) => {
      if (error !== undefined) { await this.failed(channel, events, error, undefined); return; }
      await this.redis.ltrim(this.keys.channelHooks(channel), events.length, -1);
      this.metrics.delivered(events.length);
      // More was there when taken: back in line now (what arrived since put it back on the due
      // list by itself, lingering).
      if (more) await this.redis.zadd(this.keys.hooksDue(), 'LT', this.now(), channel);
    }));
    return room === 0 || later.length > 0;
  }

  /**
   * A channel on its own (retrying a failed batch, or out of a failed shared request): its later
   * events wait behind it. `first`: its oldest events, when already read.
   */
  private async workAlone(channel: string, previous: RetryState | undefined, first?: string[]): Promise<void> {
    let retry: RetryState | undefined = previous;
    for (let batch = 0; batch < BATCHES_PER_LEASE && this.running; batch++) {
      await this.redis.zadd(this.keys.hooksLeases(), 'XX', this.now() + LEASE_MS, channel);
      const events = batch === 0 && first ? first : await this.redis.lrange(this.keys.channelHooks(channel), 0, WEBHOOK_BATCH - 1);
      if (events.length === 0) { if (retry) await this.redis.hdel(this.keys.hooksRetry(), channel); return; }
      const error = await this.post(events);
      if (error !== undefined) {
        await this.failed(channel, events, error, retry);
        return;
      }
      await this.redis.ltrim(this.keys.channelHooks(channel), events.length, -1);
      this.metrics.delivered(events.length);
      if (retry) { await this.redis.hdel(this.keys.hooksRetry(), channel); retry = undefined; }
    }
    // More to send: back in line behind the channels that have been due longer.
    await this.redis.zadd(this.keys.hooksDue(), 'LT', this.now(), channel);
  }

  /** One failed attempt: retried later (holding the channel's later events), or given up after the horizon. */
  private async failed(channel: string, events: string[], error: string, previous: RetryState | undefined): Promise<void> {
    const now = this.now();
    const attempts = (previous?.attempts ?? 0) + 1;
    const firstFailure = previous?.firstFailure ?? now;
    if (now - firstFailure >= WEBHOOK_RETRY_HORIZON_MS) {
      await this.redis.rpush(this.keys.hooksFailed(), JSON.stringify({
        channel, events: events.map((e) => JSON.parse(e) as unknown), error, failedAt: now, attempts,
      }));
      await this.redis.ltrim(this.keys.channelHooks(channel), events.length, -1);
      await this.redis.hdel(this.keys.hooksRetry(), channel);
      await this.redis.zadd(this.keys.hooksDue(), 'LT', now, channel);
      this.metrics.failed(events.length);
      this.logger.error('webhook batch given up after 24 h of retries: see chat-producer webhooks', { channel, events: events.length, error });
      return;
    }
    const nextAt = now + backoffMs(attempts);
    await this.redis.hset(this.keys.hooksRetry(), channel, JSON.stringify({ attempts, firstFailure, nextAt, error } satisfies RetryState));
    // Plain ZADD (not LT): the retry decides when this channel is tried next.
    await this.redis.zadd(this.keys.hooksDue(), nextAt, channel);
    if (attempts === 1 || attempts % 10 === 0) {
      this.logger.warn('webhook delivery failed; retrying', { channel, attempts, retryInMs: nextAt - now, error });
    }
  }

  /** POSTs one batch; returns undefined on 2xx, else what went wrong. */
  private async post(events: string[], timeoutMs = WEBHOOK_TIMEOUT_MS): Promise<string | undefined> {
    const body = `{"events":[${events.join(',')}]}`;
    const timestamp = String(Date.now());
    const started = performance.now();
    let result: 'ok' | 'error' | 'timeout' = 'error';
    try {
      const status = await this.http.post(body, {
        'content-type': 'application/json', 'x-chat-timestamp': timestamp,
        'x-chat-signature': signature(this.options.secret, timestamp, body),
      }, timeoutMs);
      if (status >= 200 && status < 300) {
        result = 'ok';
        return undefined;
      }
      return `HTTP ${status}`;
    } catch (err) {
      if (err instanceof TimeoutError) result = 'timeout';
      return (err as Error).message;
    } finally {
      this.metrics.request(result, (performance.now() - started) / 1000);
    }
  }
}
