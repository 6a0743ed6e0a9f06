/**
 * The local deployment `npm start` runs under pm2: two push servers (pm2 cluster mode, sharing
 * PORT, default 8080) and two queue workers. Scale live with `npx pm2 scale push-server N` and
 * `npx pm2 scale queue-worker M`. Every setting comes from the environment (see README).
 */
const shared = {
  // SIGTERM drains; give in-flight work time before pm2 sends SIGKILL.
  kill_timeout: 15000,
  max_restarts: 50,
  min_uptime: 2000,
  merge_logs: true,
  env: {
    REDIS_URL: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    NODE_ENV: process.env.NODE_ENV || 'production',
  },
};

module.exports = {
  apps: [
    {
      ...shared,
      name: 'push-server',
      script: 'push-server/bin/chat-push-server.js',
      exec_mode: 'cluster',
      instances: Number(process.env.PUSH_SERVERS || 2),
      // Instances share PORT; each serves its own /metrics on METRICS_PORT, 9310, 9311, …
      increment_var: 'METRICS_PORT',
      env: { ...shared.env, METRICS_PORT: Number(process.env.PUSH_METRICS_PORT || 9310) },
    },
    {
      ...shared,
      name: 'queue-worker',
      script: 'queue-worker/bin/chat-worker.js',
      exec_mode: 'fork',
      instances: Number(process.env.WORKERS || 2),
      // Each worker serves /metrics on METRICS_PORT: 9320, 9321, …
      increment_var: 'METRICS_PORT',
      env: { ...shared.env, METRICS_PORT: Number(process.env.WORKER_METRICS_PORT || 9320) },
    },
  ],
};
