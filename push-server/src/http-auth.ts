/**
 * Who is calling an HTTP endpoint (SPEC §4, §7, §8). When authentication is on or a server API
 * key is set, the `/channels…` reads and `/metrics` on the public port need
 * `Authorization: Bearer <token>`: the server API key (compared in constant time), or, with
 * authentication on, a user token, whose claims then decide which channels it may read.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { AuthError, bearerToken, type Identity, type TokenVerifier } from '@chat/shared';

export type HttpCaller =
  | { kind: 'open' }
  | { kind: 'key' }
  | { kind: 'user'; identity: Identity };

/** Refused with 401; `message` says what to send instead. */
export class HttpUnauthorized extends Error {
  override name = 'HttpUnauthorized';
}

/** Compares two secrets in time that does not depend on where they differ (or on their lengths). */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export class HttpAuth {
  constructor(private readonly verifier: TokenVerifier, private readonly serverApiKey: string | undefined) {}

  /** Whether reads need a bearer token at all. */
  get guarded(): boolean {
    return this.verifier.enabled || this.serverApiKey !== undefined;
  }

  /** Identifies the caller; throws HttpUnauthorized when a guarded endpoint gets no valid bearer. */
  async identify(headers: IncomingHttpHeaders): Promise<HttpCaller> {
    if (!this.guarded) return { kind: 'open' };
    const token = bearerToken(headers);
    const wanted = this.verifier.enabled ? 'a user token or the server API key' : 'the server API key';
    if (!token) throw new HttpUnauthorized(`send Authorization: Bearer <${wanted}>`);
    if (this.serverApiKey !== undefined && sameSecret(token, this.serverApiKey)) return { kind: 'key' };
    if (!this.verifier.enabled) throw new HttpUnauthorized('the bearer token is not the server API key');
    try {
      return { kind: 'user', identity: await this.verifier.verify(token) };
    } catch (err) {
      if (err instanceof AuthError) throw new HttpUnauthorized(err.message);
      throw err;
    }
  }
}
