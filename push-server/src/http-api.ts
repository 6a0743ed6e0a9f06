/**
 * The HTTP endpoints served on the push server's port (SPEC §4).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ChannelStore, DEFAULT_PAGE_LIMIT, historyFrame, isValidChannel, MAX_PAGE_LIMIT, MAX_SINCE_MESSAGES, type Logger, type MessageFrame,
  type RedisClient, type RedisKeys, type Registry,
} from '@chat/shared';
import { ForbiddenError, type ChannelAuthorizer } from './channel-authorizer.js';
import { HttpUnauthorized, type HttpAuth } from './http-auth.js';
import type { PresenceStore } from './presence.js';
import { RoutingRegistry } from './routing.js';
import type { ServerApi } from './server-api.js';
import type { Asset } from './web-assets.js';

export interface HttpApiDeps {
  serverId: string;
  redis: RedisClient;
  keys: RedisKeys;
  store: ChannelStore;
  historyLimit: number;
  logger: Logger;
  /** Why the server does not take traffic now (draining, Redis silent, …); undefined while it does. */
  notReady(): string | undefined;
  /** The browser page's files by path. */
  assets: Map<string, Asset>;
  metrics: Registry;
  /** Who may call the guarded endpoints. */
  auth: HttpAuth;
  authorizer: ChannelAuthorizer;
  /** Names per channel (a read sweeps dead servers' names, recording their webhook events). */
  presence: PresenceStore;
  /** The server API under /api/ (SPEC §8), when SERVER_API_KEY is set. */
  serverApi: ServerApi | undefined;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

function httpError(res: ServerResponse, status: number, code: string, message: string): void {
  json(res, status, { error: { code, message } });
}

function intParam(url: URL, name: string, min: number, max: number): number | undefined | Error {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    return new Error(`"${name}" must be a whole number from ${min} to ${max}`);
  }
  return n;
}

export function createHttpHandler(deps: HttpApiDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(deps, req, res).catch((err: Error) => {
      if (err instanceof HttpUnauthorized) {
        res.setHeader('www-authenticate', 'Bearer');
        httpError(res, 401, 'unauthorized', err.message);
        return;
      }
      if (err instanceof ForbiddenError) { httpError(res, 403, 'forbidden', err.message); return; }
      deps.logger.warn('http request failed', { url: req.url, error: err.message });
      if (!res.headersSent) httpError(res, 503, 'unavailable', 'Redis did not answer: retry shortly');
      else res.end();
    });
  };
}

async function handle(deps: HttpApiDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname.startsWith('/api/')) {
    if (!deps.serverApi) { httpError(res, 404, 'not_found', 'the server API is off: set SERVER_API_KEY on the push servers'); return; }
    await deps.serverApi.handle(req, res, url.pathname);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    httpError(res, 405, 'method_not_allowed', 'only GET is supported');
    return;
  }
  const path = url.pathname;
  const asset = deps.assets.get(path);
  if (asset) {
    res.writeHead(200, {
      'content-type': asset.type, 'cache-control': asset.cache, 'content-length': asset.body.length,
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return;
  }
  if (path === '/health') { json(res, 200, { status: 'ok', serverId: deps.serverId }); return; }
  if (path === '/ready') {
    const why = deps.notReady();
    json(res, why === undefined ? 200 : 503, why === undefined ? { status: 'ready', serverId: deps.serverId } : { status: 'unavailable', reason: why, serverId: deps.serverId });
    return;
  }
  if (path === '/metrics') {
    const caller = await deps.auth.identify(req.headers);
    if (caller.kind === 'user') {
      throw new ForbiddenError('metrics on this port take only the server API key (or scrape METRICS_PORT, which stays open)');
    }
    res.writeHead(200, { 'content-type': deps.metrics.contentType, 'cache-control': 'no-store' });
    res.end(await deps.metrics.metrics());
    return;
  }
  if (path === '/channels') {
    const caller = await deps.auth.identify(req.headers);
    // Channels come from the live servers' registries, member counts from presence. A user token
    // sees the channels its claims let it read (the hook is not asked for a listing).
    const names = (await RoutingRegistry.channelsInUse(deps.redis, deps.keys))
      .filter((name) => caller.kind !== 'user' || caller.identity.grants.access(name) !== 'none');
    const counts = await Promise.all(names.map((name) => deps.redis.hlen(deps.keys.channelPresence(name))));
    const channels = names.map((name, i) => ({ name, members: Number(counts[i]) })).filter((c) => c.members > 0)
      .sort((a, b) => b.members - a.members || a.name.localeCompare(b.name));
    json(res, 200, { channels });
    return;
  }
  const route = /^\/channels\/([^/]+)\/(presence|receipts|messages)$/.exec(path);
  if (!route) { httpError(res, 404, 'not_found', `no such endpoint: ${path}`); return; }
  const name = decodeURIComponent(route[1] as string);
  if (!isValidChannel(name)) { httpError(res, 400, 'invalid_channel', `"${name.slice(0, 80)}" is not a valid channel name`); return; }
  await mayRead(deps, req, name);
  if (route[2] === 'presence') {
    json(res, 200, { channel: name, users: await deps.presence.sweep(name, false) });
    return;
  }
  if (route[2] === 'receipts') {
    json(res, 200, { channel: name, read: await deps.store.receipts(name) });
    return;
  }
  // /messages
  if (url.searchParams.has('before')) {
    // Scroll-back: a page of messages before a seq (an empty `before` pages from the newest).
    if (url.searchParams.has('since')) { httpError(res, 400, 'bad_request', 'use either "before" or "since", not both'); return; }
    const before = intParam(url, 'before', 1, Number.MAX_SAFE_INTEGER);
    const pageLimit = intParam(url, 'limit', 1, MAX_PAGE_LIMIT);
    for (const p of [before, pageLimit]) if (p instanceof Error) { httpError(res, 400, 'bad_request', p.message); return; }
    const page = await deps.store.page(name, (before as number | undefined) ?? 0, (pageLimit as number | undefined) ?? DEFAULT_PAGE_LIMIT);
    json(res, 200, {
      channel: name, ...(before === undefined ? {} : { before }),
      messages: page.frames.map((f) => JSON.parse(f) as MessageFrame), more: page.more,
    });
    return;
  }
  const limit = intParam(url, 'limit', 1, MAX_SINCE_MESSAGES);
  const since = intParam(url, 'since', 0, Number.MAX_SAFE_INTEGER);
  for (const p of [limit, since]) if (p instanceof Error) { httpError(res, 400, 'bad_request', p.message); return; }
  const read = since === undefined
    ? await deps.store.read(name, { last: (limit as number | undefined) ?? deps.historyLimit })
    : await deps.store.read(name, { since: since as number, cap: (limit as number | undefined) ?? MAX_SINCE_MESSAGES });
  const frame = historyFrame(name, read);
  json(res, 200, { channel: name, messages: frame.messages, seq: frame.seq, complete: frame.complete });
}

/**
 * Throws unless the caller may read the channel: open mode and the server API key may; a user
 * token needs read permission (claims, then the hook).
 */
async function mayRead(deps: HttpApiDeps, req: IncomingMessage, channel: string): Promise<void> {
  const caller = await deps.auth.identify(req.headers);
  if (caller.kind === 'user') await deps.authorizer.authorize(caller.identity, channel, 'read');
}
