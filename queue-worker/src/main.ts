/**
 * chat-worker: wiring only. Settings, logger and signals come from runService; on SIGTERM/SIGINT
 * the worker finishes its jobs in flight (at most DRAIN_TIMEOUT_MS).
 */
import { runService } from '@chat/shared';
import { QueueWorker } from './queue-worker.js';

runService({
  name: 'chat-worker',
  description: 'Stores queued chat messages and routes them to push servers (SPEC §1).',
  settings: [
    'redisUrl', 'redisCluster', 'redisPrefix', 'serverId', 'retentionMs', 'workerConcurrency', 'queuePartitions',
    'heartbeatMs', 'stalledIntervalMs', 'redisCutoffMs', 'drainTimeoutMs', 'webhookUrl', 'webhookSecret', 'webhookConcurrency', 'metricsPort', 'host', 'logLevel',
  ],
  role: 'worker',
  service: 'worker',
  idField: 'workerId',
  build: (config, logger) => {
    const worker = new QueueWorker(config, logger);
    return {
      start: () => worker.start(),
      stop: async () => {
        if (!(await worker.stop(config.drainTimeoutMs))) {
          logger.warn('jobs still running at the time limit: they will be re-run by another worker');
        }
      },
    };
  },
});
