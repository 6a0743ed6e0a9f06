/**
 * The webhook dispatcher's own thread (a worker_thread of the queue worker): its event loop,
 * its Redis connection and its HTTP requests never hold up the thread that stores and routes
 * chat messages. It reports what it counted to the worker's metrics every half second.
 */
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, createRedis, REDIS_COMMAND_TIMEOUT_MS, RedisClock, RedisKeys, type Config } from '@chat/shared';
import { WebhookDispatcher } from './webhook-dispatcher.js';

/** What the thread sends its parent. */
export type ThreadTally =
  | { kind: 'tally'; delivered: number; failed: number; requests: Array<['ok' | 'error' | 'timeout', number]> }
  | { kind: 'stopped' };

/** The dispatcher thread's nice value (0 is the default, 19 the lowest priority). */
const WEBHOOK_THREAD_NICE = 10;

const { config } = workerData as { config: Config };
const port = parentPort;
if (!port) throw new Error('webhook-thread.js runs as a worker thread of chat-worker');
const logger = createLogger({ level: config.logLevel, service: 'worker', ids: { workerId: config.serverId } });
// On a busy host the webhooks wait, not the chat: this thread runs at a lower CPU priority than
// the worker's own. On Linux the nice value is per thread, so this leaves the main thread alone
// (elsewhere it would be the whole process's: there it is left as it is).
if (process.platform === 'linux') {
  try { setPriority(WEBHOOK_THREAD_NICE); } catch (err) { logger.warn('could not lower the webhook thread\'s CPU priority', { error: (err as Error).message }); }
}
const redis = createRedis(config, { name: `worker-hooks:${config.serverId}`, logger, commandTimeoutMs: REDIS_COMMAND_TIMEOUT_MS });
const clock = new RedisClock(redis);
const syncClock = (): void => { clock.sync().catch(() => undefined); };
const clockTimer = setInterval(syncClock, 5000);
let tally: Extract<ThreadTally, { kind: 'tally' }> = { kind: 'tally', delivered: 0, failed: 0, requests: [] };
const report = (): void => {
  if (tally.delivered === 0 && tally.failed === 0 && tally.requests.length === 0) return;
  port.postMessage(tally);
  tally = { kind: 'tally', delivered: 0, failed: 0, requests: [] };
};
const reportTimer = setInterval(report, 500);
const dispatcher = new WebhookDispatcher(redis, new RedisKeys(config.redisPrefix, config.redisCluster),
  { url: config.webhookUrl as string, secret: config.webhookSecret as string, concurrency: config.webhookConcurrency },
  {
    delivered: (n) => { tally.delivered += n; },
    failed: (n) => { tally.failed += n; },
    request: (result, seconds) => { tally.requests.push([result, seconds]); },
  }, logger, () => clock.now());
syncClock();
dispatcher.start();

port.on('message', (m: unknown) => {
  if (m !== 'stop') return;
  void (async () => {
    await dispatcher.stop();
    clearInterval(clockTimer);
    clearInterval(reportTimer);
    report();
    await redis.quit().catch(() => undefined);
    port.postMessage({ kind: 'stopped' } satisfies ThreadTally);
    port.close();
  })();
});
