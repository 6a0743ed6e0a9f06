/**
 * chat-push-server: wiring only. Settings, logger and signals come from runService; the server
 * drains on SIGTERM/SIGINT.
 */
import { runService } from '@chat/shared';
import { PushServer } from './push-server.js';

runService({
  name: 'chat-push-server',
  description: 'Holds WebSocket connections and serves the chat HTTP API (SPEC §3-4).',
  settings: [
    'redisUrl', 'redisCluster', 'redisPrefix', 'port', 'host', 'serverId', 'historyLimit', 'retentionMs',
    'maxTextBytes', 'queuePartitions', 'enqueueLingerMs', 'heartbeatMs', 'presenceIntervalMs', 'rateLimit', 'rateBurst', 'authSecret',
    'authJwksUrl', 'authIssuer', 'authAudience', 'authHookUrl', 'serverApiKey', 'webhookUrl', 'webhookSecret', 'webhookDebounceMs',
    'redisCutoffMs', 'trustProxy', 'allowedOrigins', 'maxChannelsPerConnection', 'maxConnectionsPerIp', 'maxSendBufferBytes', 'queueHighWater',
    'metricsPort', 'logLevel',
  ],
  role: 'push',
  service: 'push-server',
  idField: 'serverId',
  build: (config, logger) => new PushServer(config, logger),
});
