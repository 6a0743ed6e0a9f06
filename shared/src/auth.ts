/**
 * Authentication tokens (SPEC §7): JWTs whose `sub` is the user name, verified with `jose`.
 * HS256 tokens are checked against `AUTH_SECRET`; RS256 and ES256 tokens against the keys of an
 * identity provider's JWKS (`AUTH_JWKS_URL`, cached, fetched again for an unknown `kid` at most
 * every 30 s). A token is accepted when it verifies under a configured source for its algorithm,
 * never an HS256 token against a public key. `iss`/`aud` are checked when configured; clocks may
 * differ by 5 s. The verified token carries its channel grants (see channel-grants.ts).
 */
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { ChannelGrants, GrantsError } from './channel-grants.js';
import { isValidUser } from './protocol.js';

const encode = (secret: string): Uint8Array => new TextEncoder().encode(secret);

/** Allowed clock difference between the identity provider and the push servers. */
export const CLOCK_TOLERANCE_S = 5;
/** A JWKS is fetched again for an unknown `kid` at most this often. */
export const JWKS_COOLDOWN_MS = 30_000;

/** A token that was missing, malformed, wrongly signed, expired, or named no valid user. */
export class AuthError extends Error {
  override name = 'AuthError';
}

/** A verified token: who it is, until when, and which channels it may use. */
export interface Identity {
  user: string;
  /** Expiry in unix seconds; undefined when the token has none. */
  exp: number | undefined;
  grants: ChannelGrants;
}

export interface VerifierOptions {
  /** HS256 secret (`AUTH_SECRET`). */
  secret?: string | undefined;
  /** JWKS URL for RS256/ES256 (`AUTH_JWKS_URL`). */
  jwksUrl?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
  /** Told once when the JWKS cannot be fetched, and once when it can again. */
  onJwksState?: (available: boolean, error?: string) => void;
}

const ASYMMETRIC = ['RS256', 'ES256'];

export class TokenVerifier {
  private readonly secret: Uint8Array | undefined;
  private readonly jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  private jwksAvailable = true;

  constructor(private readonly options: VerifierOptions) {
    this.secret = options.secret === undefined ? undefined : encode(options.secret);
    this.jwks = options.jwksUrl === undefined ? undefined
      : createRemoteJWKSet(new URL(options.jwksUrl), { cooldownDuration: JWKS_COOLDOWN_MS, timeoutDuration: 2000 });
  }

  /** Whether any source is configured (authentication is on). */
  get enabled(): boolean {
    return this.secret !== undefined || this.jwks !== undefined;
  }

  /** Verifies a token; throws AuthError with a one-line reason. */
  async verify(token: string): Promise<Identity> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new AuthError('the token is not valid (not a JWT)');
    }
    const common = {
      clockTolerance: CLOCK_TOLERANCE_S,
      ...(this.options.issuer !== undefined ? { issuer: this.options.issuer } : {}),
      ...(this.options.audience !== undefined ? { audience: this.options.audience } : {}),
    };
    let payload: JWTPayload;
    try {
      if (alg === 'HS256' && this.secret) {
        ({ payload } = await jwtVerify(token, this.secret, { ...common, algorithms: ['HS256'] }));
      } else if (alg !== undefined && ASYMMETRIC.includes(alg) && this.jwks) {
        ({ payload } = await this.verifyWithJwks(token, common));
      } else {
        const accepted = [...(this.secret ? ['HS256'] : []), ...(this.jwks ? ASYMMETRIC : [])].join(', ');
        throw new AuthError(`the token's algorithm ${alg ?? '(none)'} is not accepted here (accepted: ${accepted})`);
      }
    } catch (err) {
      throw asAuthError(err);
    }
    if (!isValidUser(payload.sub)) throw new AuthError('the token\'s sub is not a valid user name');
    let grants: ChannelGrants;
    try {
      grants = ChannelGrants.fromClaims(payload as Record<string, unknown>);
    } catch (err) {
      if (err instanceof GrantsError) throw new AuthError(err.message);
      throw err;
    }
    return { user: payload.sub as string, exp: typeof payload.exp === 'number' ? payload.exp : undefined, grants };
  }

  private async verifyWithJwks(token: string, common: object): Promise<{ payload: JWTPayload }> {
    try {
      const result = await jwtVerify(token, this.jwks as ReturnType<typeof createRemoteJWKSet>, { ...common, algorithms: ASYMMETRIC });
      this.jwksState(true);
      return result;
    } catch (err) {
      if (isJwksUnavailable(err)) {
        this.jwksState(false, (err as Error).message);
        throw new AuthError(`the identity provider's keys (AUTH_JWKS_URL) cannot be fetched: ${(err as Error).message}`);
      }
      if (!(err instanceof errors.JWKSNoMatchingKey)) this.jwksState(true);
      throw err;
    }
  }

  private jwksState(available: boolean, error?: string): void {
    if (available === this.jwksAvailable) return;
    this.jwksAvailable = available;
    this.options.onJwksState?.(available, error);
  }
}

/** A JWKS fetch that failed (network, timeout, bad document), as opposed to a bad token. */
function isJwksUnavailable(err: unknown): boolean {
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return true;
  if (err instanceof errors.JOSEError) return false;
  return err instanceof Error; // fetch failed: connection refused, DNS, non-2xx …
}

function asAuthError(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  if (err instanceof errors.JWTExpired) return new AuthError('the token has expired');
  if (err instanceof errors.JWSSignatureVerificationFailed) return new AuthError('the token\'s signature is not valid');
  if (err instanceof errors.JWKSNoMatchingKey) return new AuthError('the token\'s key (kid) is not in the identity provider\'s JWKS');
  if (err instanceof errors.JWTClaimValidationFailed) return new AuthError(`the token's ${err.claim} claim is not accepted (${err.reason})`);
  return new AuthError(`the token is not valid (${(err as Error).message})`);
}

export interface MintOptions {
  /** `channels` claim: patterns the user may join and write to. */
  channels?: string[];
  /** `channels_read` claim: patterns the user may join and read. */
  channelsRead?: string[];
}

/** Mints an HS256 token for `user` that expires after `ttlSeconds`. */
export async function mintToken(user: string, secret: string, ttlSeconds: number, options: MintOptions = {}): Promise<string> {
  if (!isValidUser(user)) throw new Error('the user name must be 1-64 characters without control characters');
  const claims: Record<string, unknown> = {};
  if (options.channels !== undefined) claims.channels = options.channels;
  if (options.channelsRead !== undefined) claims.channels_read = options.channelsRead;
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(user).setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds).sign(encode(secret));
}

/** The bearer token of an HTTP request's `Authorization` header. */
export function bearerToken(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  return undefined;
}

/** The token of an upgrade request: `token` query parameter, `Authorization: Bearer`, or `token` cookie. */
export function tokenFromRequest(url: URL, headers: Record<string, string | string[] | undefined>): string | undefined {
  const query = url.searchParams.get('token');
  if (query) return query;
  const bearer = bearerToken(headers);
  if (bearer) return bearer;
  const cookie = headers.cookie;
  if (typeof cookie === 'string') {
    for (const part of cookie.split(';')) {
      const [name, ...value] = part.trim().split('=');
      if (name === 'token' && value.length > 0) return decodeURIComponent(value.join('='));
    }
  }
  return undefined;
}
