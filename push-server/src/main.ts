/**
 * chat-push-server: parses settings, builds a PushServer, starts it, drains on SIGTERM/SIGINT.
 */
import { Command } from 'commander';
import { addSettingOptions, createLogger, fail, loadConfig, programArgv, settingFlags, type SettingKey } from '@chat/shared';
import { PushServer } from './push-server.js';

const KEYS: SettingKey[] = [
  'redisUrl', 'redisCluster', 'redisPrefix', 'port', 'host', 'serverId', 'historyLimit', 'retentionMs',
  'maxTextBytes', 'queuePartitions', 'heartbeatMs', 'presenceIntervalMs', 'rateLimit', 'rateBurst', 'authSecret',
  'allowedOrigins', 'maxChannelsPerConnection', 'maxConnectionsPerIp', 'maxSendBufferBytes', 'queueHighWater', 'metricsPort', 'logLevel',
];

const program = addSettingOptions(
  new Command('chat-push-server').description('Holds WebSocket connections and serves the chat HTTP API (SPEC §3-4).'),
  KEYS,
);
program.parse(programArgv());

async function main(): Promise<void> {
  const config = loadConfig({ flags: settingFlags(program.opts(), KEYS), role: 'push' });
  const logger = createLogger({ level: config.logLevel, service: 'push-server', ids: { serverId: config.serverId } });
  const server = new PushServer(config, logger);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('draining', { signal });
    server.stop().then(() => process.exit(0), (err: Error) => {
      logger.error('shutdown failed', { error: err.message });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await server.start();
}

main().catch((err) => fail('chat-push-server', err));
