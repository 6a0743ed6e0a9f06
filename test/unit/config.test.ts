import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '@chat/shared';

describe('config loader', function () {
  let dir: string;
  let envFile: string;
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'chat-config-'));
    envFile = join(dir, '.env');
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses the SPEC defaults', function () {
    const c = loadConfig({ env: {}, envFile: false, role: 'push' });
    expect(c).to.include({
      redisUrl: 'redis://127.0.0.1:6379', redisCluster: false, port: 8080, host: '0.0.0.0', historyLimit: 10,
      retentionMs: 86_400_000, maxTextBytes: 4096, rateLimit: 20, rateBurst: 40, logLevel: 'info',
    });
    expect(c.serverId).to.match(/-push-/).and.include(String(process.pid));
  });

  it('takes flags over the environment over .env over defaults', function () {
    writeFileSync(envFile, 'PORT=7001\nHISTORY_LIMIT=3\nRETENTION_MS=5000\n');
    const c = loadConfig({ env: { PORT: '7002', HISTORY_LIMIT: '4' }, envFile, flags: { port: '7003' } });
    expect(c.port).to.equal(7003);
    expect(c.historyLimit).to.equal(4);
    expect(c.retentionMs).to.equal(5000);
    expect(c.maxTextBytes).to.equal(4096);
  });

  it('makes the default server id pm2-instance aware', function () {
    const c = loadConfig({ env: { NODE_APP_INSTANCE: '3' }, envFile: false, role: 'push' });
    expect(c.serverId).to.include('-push-i3-');
    expect(loadConfig({ env: { SERVER_ID: 'edge-1' }, envFile: false }).serverId).to.equal('edge-1');
  });

  it('refuses bad values with one line naming the setting and its source', function () {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ PORT: 'eighty' }, /^PORT must be a whole number/],
      [{ PORT: '70000' }, /^PORT must be at most 65535/],
      [{ RETENTION_MS: '-5' }, /^RETENTION_MS must be a whole number >= 100/],
      [{ HISTORY_LIMIT: '1.5' }, /^HISTORY_LIMIT must be a whole number/],
      [{ REDIS_URL: 'localhost:6379' }, /^REDIS_URL must look like redis:\/\/host:port/],
      [{ REDIS_CLUSTER: 'maybe' }, /^REDIS_CLUSTER must be true or false/],
      [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
      [{ TRUST_PROXY: '127.0.0.1,10.0.0.0/40' }, /^TRUST_PROXY: "10.0.0.0\/40" is not an IP address or CIDR/],
      [{ SERVER_API_KEY: 'short' }, /^SERVER_API_KEY must be at least 24 characters/],
      [{ AUTH_HOOK_URL: 'http://127.0.0.1:9/hook' }, /^AUTH_HOOK_URL needs authentication on/],
      [{ AUTH_JWKS_URL: 'ftp://idp/jwks' }, /^AUTH_JWKS_URL must be an http\(s\) URL/],
      [{ REDIS_PREFIX: 'a{b}' }, /^REDIS_PREFIX must not contain braces/],
      [{ WEBHOOK_URL: 'http://127.0.0.1:9/hooks' }, /^WEBHOOK_URL needs WEBHOOK_SECRET of at least 16 characters/],
      [{ WEBHOOK_URL: 'http://127.0.0.1:9/hooks', WEBHOOK_SECRET: 'short' }, /^WEBHOOK_URL needs WEBHOOK_SECRET/],
      [{ WEBHOOK_URL: 'mailto:x@y', WEBHOOK_SECRET: 'long-enough-secret-123' }, /^WEBHOOK_URL must be an http\(s\) URL/],
    ];
    for (const [env, pattern] of cases) {
      expect(() => loadConfig({ env, envFile: false }), JSON.stringify(env)).to.throw(ConfigError, pattern);
    }
    expect(() => loadConfig({ env: {}, envFile: false, flags: { port: 'x' } })).to.throw(ConfigError, /^--port must be/);
    writeFileSync(envFile, 'MAX_TEXT_BYTES=big\n');
    expect(() => loadConfig({ env: {}, envFile })).to.throw(ConfigError, /^MAX_TEXT_BYTES in \.env must be/);
  });

  it('reads booleans and cluster seed lists', function () {
    const c = loadConfig({ env: { REDIS_CLUSTER: 'yes', REDIS_URL: 'redis://10.0.0.1:7000,redis://10.0.0.2:7000' }, envFile: false });
    expect(c.redisCluster).to.equal(true);
    expect(c.redisUrl.split(',')).to.have.length(2);
  });
});
