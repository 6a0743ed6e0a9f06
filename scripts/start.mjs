#!/usr/bin/env node
/**
 * `npm start`: a whole local deployment in the foreground.
 *
 * Redis: REDIS_URL when set; else a Redis already answering on 127.0.0.1:6379; else a private
 * `redis-server` with AOF on, data under ./.data/redis (stopped again on exit). Then pm2 runs
 * pm2.config.js (two push servers, two workers) until Ctrl-C, which stops everything.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(ROOT, '.data');
const PM2_HOME = join(DATA, 'pm2');
const PORT = process.env.PORT || '8080';

function say(line) {
  process.stdout.write(`[start] ${line}\n`);
}

function die(line) {
  process.stderr.write(`npm start: ${line}\n`);
  process.exit(1);
}

/** True when a Redis answers PING at host:port within 500 ms. */
function redisAnswers(host, port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

function portFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freePort() {
  if (await portFree(6379)) return 6379;
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)); });
  });
}

async function waitFor(check, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function privateRedis() {
  if (spawnSync('redis-server', ['--version']).error) {
    die('no Redis answers on 127.0.0.1:6379 and redis-server is not installed: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL');
  }
  const port = await freePort();
  const dir = join(DATA, 'redis');
  mkdirSync(dir, { recursive: true });
  const proc = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec',
    '--save', '', '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--logfile', join(dir, 'redis.log'),
  ], { stdio: 'ignore' });
  if (!(await waitFor(() => redisAnswers('127.0.0.1', port), 10_000))) {
    proc.kill('SIGKILL');
    die(`the private redis-server did not start on port ${port}: see ${join(dir, 'redis.log')}`);
  }
  say(`started a private Redis at redis://127.0.0.1:${port} (AOF on, data in .data/redis)`);
  return { url: `redis://127.0.0.1:${port}`, proc };
}

async function main() {
  let redisUrl = process.env.REDIS_URL;
  let redis;
  if (redisUrl) say(`using REDIS_URL=${redisUrl}`);
  else if (await redisAnswers('127.0.0.1', 6379)) { redisUrl = 'redis://127.0.0.1:6379'; say(`using the Redis at ${redisUrl}`); }
  else { redis = await privateRedis(); redisUrl = redis.url; }

  mkdirSync(PM2_HOME, { recursive: true });
  const pm2 = spawn(join(ROOT, 'node_modules', '.bin', 'pm2-runtime'), ['start', join(ROOT, 'pm2.config.js')], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: redisUrl, PM2_HOME, PORT },
    stdio: 'inherit',
  });
  let stopping = false;
  const stopRedis = async () => {
    if (!redis) return;
    redis.proc.kill('SIGTERM');
    await new Promise((r) => (redis.proc.exitCode !== null ? r() : redis.proc.once('exit', r)));
  };
  const stop = () => {
    if (stopping) return;
    stopping = true;
    say('stopping: draining push servers and workers');
    pm2.kill('SIGINT');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  pm2.once('exit', async (code) => {
    await stopRedis();
    say('stopped');
    process.exit(stopping ? 0 : code ?? 1);
  });
  const up = await waitFor(async () => {
    try { return (await fetch(`http://127.0.0.1:${PORT}/health`)).ok; } catch { return false; }
  }, 30_000);
  if (up) {
    say(`chat page: http://localhost:${PORT}/   (Ctrl-C stops everything)`);
    say(`scale: npm run pm2 -- scale push-server 3 | npm run pm2 -- scale queue-worker 4`);
  } else if (!stopping) {
    say(`push servers did not answer on port ${PORT} within 30 s: see the log lines above`);
  }
}

main().catch((err) => die(err.message));
