/**
 * Authentication tokens: HS256 JWTs whose `sub` is the user name (SPEC §2 AUTH_SECRET), checked
 * with `jose`. Used by push servers (verify) and `chat-producer token` (mint).
 */
import { jwtVerify, SignJWT, errors } from 'jose';
import { isValidUser } from './protocol.js';

const key = (secret: string): Uint8Array => new TextEncoder().encode(secret);

/** A token that was missing, malformed, wrongly signed, expired, or named no valid user. */
export class AuthError extends Error {
  override name = 'AuthError';
}

/** Verifies a token and returns its user name (`sub`). */
export async function verifyToken(token: string, secret: string): Promise<string> {
  try {
    const { payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'] });
    if (!isValidUser(payload.sub)) throw new AuthError('the token\'s sub is not a valid user name');
    return payload.sub as string;
  } catch (err) {
    if (err instanceof AuthError) throw err;
    if (err instanceof errors.JWTExpired) throw new AuthError('the token has expired');
    if (err instanceof errors.JWSSignatureVerificationFailed) throw new AuthError('the token\'s signature is not valid');
    throw new AuthError(`the token is not valid (${(err as Error).message})`);
  }
}

/** Mints a token for `user` that expires after `ttlSeconds`. */
export async function mintToken(user: string, secret: string, ttlSeconds: number): Promise<string> {
  if (!isValidUser(user)) throw new Error('the user name must be 1-64 characters without control characters');
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(user).setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds).sign(key(secret));
}

/** The token of an upgrade request: `token` query parameter, `Authorization: Bearer`, or `token` cookie. */
export function tokenFromRequest(url: URL, headers: Record<string, string | string[] | undefined>): string | undefined {
  const query = url.searchParams.get('token');
  if (query) return query;
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  const cookie = headers.cookie;
  if (typeof cookie === 'string') {
    for (const part of cookie.split(';')) {
      const [name, ...value] = part.trim().split('=');
      if (name === 'token' && value.length > 0) return decodeURIComponent(value.join('='));
    }
  }
  return undefined;
}
