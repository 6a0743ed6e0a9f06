/**
 * Decides whether a WebSocket upgrade may open a connection, before any socket exists: path,
 * drain state, Origin, per-address connection cap, authentication (a JWT verified by the
 * TokenVerifier when authentication is on) and the query parameters. A refusal is an HTTP status
 * with a one-line reason.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TrustedProxies } from './client-address.js';
import { AuthError, ChannelGrants, isValidUser, tokenFromRequest, type Identity, type TokenVerifier } from '@chat/shared';

export interface GateOptions {
  verifier: TokenVerifier;
  allowedOrigins: string[] | undefined;
  maxConnectionsPerIp: number;
  /** TRUST_PROXY: whose X-Forwarded-For names the client. */
  proxies: TrustedProxies;
}

export type GateResult =
  | { ok: true; identity: Identity; session: string; channels: string[]; address: string; authenticated: boolean }
  | { ok: false; status: number; reason: string };

export class UpgradeGate {
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly options: GateOptions) {}

  /** @param unavailable why this server takes no connections now (draining, cut off), if so */
  async check(req: IncomingMessage, unavailable: string | undefined): Promise<GateResult> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/ws') return refuse(404, 'the WebSocket endpoint is /ws');
    if (unavailable !== undefined) return refuse(503, `this push server is ${unavailable}: connect to another one`);
    const origin = req.headers.origin;
    // Browsers always send Origin; other clients may not, and cross-site hijacking needs a browser.
    if (this.options.allowedOrigins && origin !== undefined && !this.options.allowedOrigins.includes(origin.replace(/\/$/, ''))) {
      return refuse(403, `origin ${origin} is not allowed (ALLOWED_ORIGINS)`);
    }
    // Behind a trusted proxy the client's address comes from X-Forwarded-For (SPEC §9).
    const address = this.options.proxies.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']);
    if ((this.perAddress.get(address) ?? 0) >= this.options.maxConnectionsPerIp) {
      return refuse(429, `too many connections from ${address} (MAX_CONNECTIONS_PER_IP=${this.options.maxConnectionsPerIp})`);
    }
    const session = url.searchParams.get('session') ?? '';
    if (!/^[A-Za-z0-9_-]{0,64}$/.test(session)) return refuse(400, 'session must be up to 64 letters, digits, "_" or "-"');
    const channels = url.searchParams.getAll('channel');
    if (this.options.verifier.enabled) {
      const token = tokenFromRequest(url, req.headers);
      if (!token) return refuse(401, 'a token is required: pass ?token=, an Authorization: Bearer header or a token cookie');
      try {
        const identity = await this.options.verifier.verify(token);
        return { ok: true, identity, session, channels, address, authenticated: true };
      } catch (err) {
        if (err instanceof AuthError) return refuse(401, err.message);
        throw err;
      }
    }
    const userParam = url.searchParams.get('user');
    if (userParam !== null && !isValidUser(userParam)) return refuse(400, 'user must be 1-64 characters without control characters');
    const user = userParam ?? `guest-${randomBytes(3).toString('hex')}`;
    return { ok: true, identity: { user, exp: undefined, grants: ChannelGrants.unrestricted }, session, channels, address, authenticated: false };
  }

  /** Counts an opened connection from `address` (`closed` uncounts it, once per connection). */
  opened(address: string): void {
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
  }

  closed(address: string): void {
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(address); else this.perAddress.set(address, n);
  }
}

function refuse(status: number, reason: string): GateResult {
  return { ok: false, status, reason };
}
