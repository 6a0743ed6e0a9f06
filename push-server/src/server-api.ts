/**
 * The server API (SPEC §8): the application's backend posts messages, deletes a message as a
 * moderator and disconnects a user, over the push server's HTTP port with the server API key.
 * Messages and deletes take the same path as a WebSocket client's (the same validator, the
 * queue, `author`+`id` de-duplication), so a 202 means exactly what an `ack` means.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  bearerToken, ErrorCode, isValidChannel, isValidUser, parseClientFrame, type ChannelStore, type InboundMessage,
} from '@chat/shared';
import { OverloadedError } from './admission.js';
import { sameSecret } from './http-auth.js';
import { TokenBucket } from './token-bucket.js';

/** Largest request body (413 beyond). */
export const MAX_API_BODY_BYTES = 1024 * 1024;
/** Most messages in one `POST /api/messages`. */
export const MAX_API_BATCH = 1000;
/** The author of API messages without one, and of moderators' deletes. */
export const API_AUTHOR = 'server';

export interface ServerApiDeps {
  key: string;
  store: ChannelStore;
  maxTextBytes: number;
  /** The push server's enqueue (admission control): resolves once the job is in Redis. */
  enqueue(message: InboundMessage): Promise<void>;
  /** Closes every connection of `user` on every push server with 4003. */
  disconnect(user: string): Promise<void>;
  /** Requests per second per key (the bucket's refill; the burst is twice that). */
  requestsPerSecond: number;
}

class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details?: string[]) {
    super(message);
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** Reads a JSON body of at most MAX_API_BODY_BYTES. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_API_BODY_BYTES) {
      req.resume();
      throw new ApiError(413, 'too_large', `the body is over ${MAX_API_BODY_BYTES} bytes: send at most ${MAX_API_BATCH} messages per request`);
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new ApiError(400, 'bad_request', `the body is not JSON: ${(err as Error).message}`);
  }
}

export class ServerApi {
  private readonly bucket: TokenBucket;

  constructor(private readonly deps: ServerApiDeps) {
    this.bucket = new TokenBucket(deps.requestsPerSecond, deps.requestsPerSecond * 2);
  }

  /** Answers one `/api/…` request. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    try {
      const token = bearerToken(req.headers);
      if (!token || !sameSecret(token, this.deps.key)) {
        res.setHeader('www-authenticate', 'Bearer');
        throw new ApiError(401, 'unauthorized', token ? 'the bearer token is not the server API key' : 'send Authorization: Bearer <the server API key>');
      }
      if (!this.bucket.take()) throw new ApiError(429, 'rate_limited', `more than ${this.deps.requestsPerSecond} API requests/s: slow down`);
      await this.route(req, res, path);
    } catch (err) {
      if (err instanceof ApiError) {
        reply(res, err.status, { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
      } else if (err instanceof OverloadedError) {
        reply(res, 503, { error: { code: ErrorCode.Overloaded, message: `${err.message} (the same ids are stored once)` } });
      } else {
        throw err;
      }
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    const allow = (methods: string): void => {
      if (methods.split(', ').includes(method)) return;
      res.setHeader('allow', methods);
      throw new ApiError(405, 'method_not_allowed', `${path} takes ${methods}`);
    };
    if (path === '/api/messages') {
      allow('POST');
      reply(res, 202, { accepted: await this.post(await readJson(req)) });
      return;
    }
    const del = /^\/api\/channels\/([^/]+)\/messages\/([^/]+)$/.exec(path);
    if (del) {
      allow('DELETE');
      await this.moderate(decodeURIComponent(del[1] as string), del[2] as string);
      reply(res, 202, {});
      return;
    }
    const disconnect = /^\/api\/users\/([^/]+)\/disconnect$/.exec(path);
    if (disconnect) {
      allow('POST');
      const user = decodeURIComponent(disconnect[1] as string);
      if (!isValidUser(user)) throw new ApiError(400, 'bad_request', 'a user name is 1-64 characters without control characters');
      await this.deps.disconnect(user);
      reply(res, 202, {});
      return;
    }
    throw new ApiError(404, 'not_found', `no such endpoint: ${method} ${path} (see README "Your backend")`);
  }

  /** Validates the whole batch first (all or nothing), then enqueues it in order. */
  private async post(body: unknown): Promise<Array<{ channel: string; id: string }>> {
    const items = typeof body === 'object' && body !== null && Array.isArray((body as { messages?: unknown }).messages)
      ? (body as { messages: unknown[] }).messages
      : [body];
    if (items.length === 0) throw new ApiError(400, 'bad_request', '"messages" is empty');
    if (items.length > MAX_API_BATCH) throw new ApiError(400, 'bad_request', `at most ${MAX_API_BATCH} messages per request (got ${items.length})`);
    const details: string[] = [];
    const messages: InboundMessage[] = [];
    for (const [i, item] of items.entries()) {
      const at = items.length === 1 && item === body ? '' : `messages[${i}]: `;
      if (typeof item !== 'object' || item === null || Array.isArray(item)) { details.push(`${at}must be an object`); continue; }
      const { channel, text, id, author } = item as Record<string, unknown>;
      if (author !== undefined && !isValidUser(author)) { details.push(`${at}"author" must be 1-64 characters without control characters`); continue; }
      const parsed = parseClientFrame(JSON.stringify({ type: 'message', channel, text, id }), false, { maxTextBytes: this.deps.maxTextBytes });
      if (!parsed.ok) {
        for (const d of parsed.error.details ?? [parsed.error.message]) details.push(`${at}${d}`);
        continue;
      }
      if (parsed.frame.type !== 'message') continue;
      messages.push({
        channel: parsed.frame.channel, text: parsed.frame.text, author: (author as string | undefined) ?? API_AUTHOR,
        id: parsed.frame.id ?? `api-${randomBytes(9).toString('base64url')}`, receivedAt: Date.now(),
      });
    }
    if (details.length > 0) throw new ApiError(400, 'bad_request', `nothing was enqueued: ${details[0]}`, details);
    // Enqueued in batch order; each partition keeps it, and de-duplication keeps a repeat once.
    await Promise.all(messages.map((m) => this.deps.enqueue(m)));
    return messages.map((m) => ({ channel: m.channel, id: m.id }));
  }

  /** A moderator's delete: an `update` by `server` with id `api-delete-<seq>`, any author's message. */
  private async moderate(channel: string, seqText: string): Promise<void> {
    if (!isValidChannel(channel)) throw new ApiError(400, 'invalid_channel', `"${channel.slice(0, 80)}" is not a valid channel name`);
    const seq = Number(seqText);
    if (!/^\d+$/.test(seqText) || !Number.isSafeInteger(seq) || seq < 1) throw new ApiError(400, 'bad_request', 'the seq must be a positive integer');
    const target = await this.deps.store.target(channel, seq);
    if (target.state !== 'message') throw new ApiError(404, 'not_found', `${channel} has no retained message ${seq}`);
    if (target.message.deleted) return; // already deleted: nothing to store
    await this.deps.enqueue({
      channel, id: `api-delete-${seq}`, author: API_AUTHOR, text: '', receivedAt: Date.now(),
      update: { target: seq, action: 'delete', privileged: true },
    });
  }
}
