/**
 * Stand-ins for the application's own services, as real local HTTP servers: an identity
 * provider that serves a JWKS (RS256 and ES256 keys, rotatable) and signs tokens with it, and an
 * authorization hook whose answer per channel the test chooses.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

type Alg = 'RS256' | 'ES256';
interface SigningKey { kid: string; alg: Alg; privateKey: CryptoKey; jwk: JWK }

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export class IdentityProvider {
  /** JWKS documents served so far. */
  fetches = 0;
  private keys: SigningKey[] = [];
  private generation = 0;
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(): Promise<IdentityProvider> {
    let idp: IdentityProvider | undefined;
    const server = createServer((_req, res) => {
      if (!idp) { res.writeHead(503).end(); return; }
      idp.fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: idp.keys.map((k) => k.jwk) }));
    });
    idp = new IdentityProvider(server, `${await listen(server)}/.well-known/jwks.json`);
    await idp.rotate();
    return idp;
  }

  /** Publishes a new RS256 and a new ES256 key (new `kid`s) beside the old ones; tokens sign with the new ones. */
  async rotate(): Promise<void> {
    this.generation++;
    for (const alg of ['RS256', 'ES256'] as const) {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const kid = `${alg.toLowerCase()}-${this.generation}`;
      this.keys.push({ kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } });
    }
  }

  /** Signs a token for `sub` with the newest key of `alg`. */
  sign(sub: string, options: { alg?: Alg; claims?: Record<string, unknown>; ttl?: number; issuer?: string; audience?: string } = {}): Promise<string> {
    const alg = options.alg ?? 'RS256';
    const key = [...this.keys].reverse().find((k) => k.alg === alg) as SigningKey;
    let jwt = new SignJWT(options.claims ?? {}).setProtectedHeader({ alg, kid: key.kid, typ: 'JWT' }).setSubject(sub).setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (options.ttl ?? 600));
    if (options.issuer) jwt = jwt.setIssuer(options.issuer);
    if (options.audience) jwt = jwt.setAudience(options.audience);
    return jwt.sign(key.privateKey);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export type HookBehaviour = 'allow' | 'read-only' | 'deny' | 'hang' | 'error';

/** The application's authorization hook: answers by the channel's name prefix (`allow-…`, `deny-…`, …). */
export class HookServer {
  readonly requests: Array<{ user: string; channel: string; action: string }> = [];
  private readonly hanging: Array<() => void> = [];
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(): Promise<HookServer> {
    let hook: HookServer | undefined;
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d: Buffer) => { body += d.toString(); });
      req.on('end', () => {
        const ask = JSON.parse(body) as { user: string; channel: string; action: string };
        hook?.requests.push(ask);
        const behaviour = /^(allow|read-only|deny|hang|error)/.exec(ask.channel)?.[1] as HookBehaviour | undefined;
        const send = (status: number, answer: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(answer));
        };
        switch (behaviour) {
          case 'allow': send(200, { allow: true }); break;
          case 'read-only': send(200, { allow: true, write: false }); break;
          case 'hang': hook?.hanging.push(() => res.destroy()); break;
          case 'error': send(500, { error: 'broken' }); break;
          default: send(200, { allow: false });
        }
      });
    });
    hook = new HookServer(server, `${await listen(server)}/authorize`);
    return hook;
  }

  /** Requests asked about `channel` (optionally by `user`). */
  asked(channel: string, user?: string): number {
    return this.requests.filter((r) => r.channel === channel && (user === undefined || r.user === user)).length;
  }

  close(): Promise<void> {
    for (const end of this.hanging) end();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
