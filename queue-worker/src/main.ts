/**
 * chat-worker: parses settings, builds a QueueWorker, starts it, finishes in-flight jobs on
 * SIGTERM/SIGINT.
 */
import { Command } from 'commander';
import { addSettingOptions, createLogger, fail, loadConfig, programArgv, settingFlags, type SettingKey } from '@chat/shared';
import { QueueWorker } from './queue-worker.js';

const KEYS: SettingKey[] = [
  'redisUrl', 'redisCluster', 'redisPrefix', 'serverId', 'retentionMs', 'workerConcurrency', 'queuePartitions',
  'heartbeatMs', 'stalledIntervalMs', 'drainTimeoutMs', 'metricsPort', 'host', 'logLevel',
];

const program = addSettingOptions(
  new Command('chat-worker').description('Stores queued chat messages and routes them to push servers (SPEC §1).'),
  KEYS,
);
program.parse(programArgv());

async function main(): Promise<void> {
  const config = loadConfig({ flags: settingFlags(program.opts(), KEYS), role: 'worker' });
  const logger = createLogger({ level: config.logLevel, service: 'worker', ids: { workerId: config.serverId } });
  const worker = new QueueWorker(config, logger);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('finishing jobs in flight', { signal });
    worker.stop(config.drainTimeoutMs).then((clean) => {
      if (!clean) logger.warn('jobs still running at the time limit: they will be re-run by another worker');
      process.exit(0);
    }, () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await worker.start();
}

main().catch((err) => fail('chat-worker', err));
