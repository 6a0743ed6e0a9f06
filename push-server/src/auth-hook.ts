/**
 * The application's authorization hook (SPEC §7, `AUTH_HOOK_URL`): asked about a join (or a first
 * write) of a channel that the token's claims do not grant. One POST per decision
 * `{"user","channel","action"}`; `200 {"allow":true}` allows (`"write":false`: read only), anything
 * else refuses: another status, `allow:false`, no answer within the timeout. Allowed answers are
 * cached per (user, channel) for a while; a refusal is never cached, so an application that
 * grants access later is asked again at the next attempt.
 */
import type { ChannelAccess } from '@chat/shared';

export type HookAction = 'join' | 'write';

/** The hook refused, or could not be asked; `message` says which, in one line. */
export class HookRefusal extends Error {
  override name = 'HookRefusal';
}

export interface HookOptions {
  timeoutMs?: number;
  cacheMs?: number;
}

export const HOOK_TIMEOUT_MS = 2000;
export const HOOK_CACHE_MS = 30_000;

export class AuthHook {
  private readonly cache = new Map<string, { access: ChannelAccess; until: number }>();
  private readonly timeoutMs: number;
  private readonly cacheMs: number;

  constructor(private readonly url: string, options: HookOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? HOOK_TIMEOUT_MS;
    this.cacheMs = options.cacheMs ?? HOOK_CACHE_MS;
  }

  /** What the application allows `user` in `channel` for `action`; throws HookRefusal when it does not. */
  async ask(user: string, channel: string, action: HookAction): Promise<ChannelAccess> {
    const key = `${user}\n${channel}`;
    const cached = this.cache.get(key);
    if (cached && cached.until > Date.now() && (action === 'join' || cached.access === 'write')) return cached.access;
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user, channel, action }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const why = (err as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (err as Error).message;
      throw new HookRefusal(`the authorization hook did not answer (${why}): access refused`);
    }
    let body: unknown;
    try {
      body = await res.json();
    } catch {
      body = undefined;
    }
    if (res.status !== 200 || typeof body !== 'object' || body === null || (body as { allow?: unknown }).allow !== true) {
      throw new HookRefusal(res.status === 200
        ? `the application does not allow ${user} to ${action} ${channel}`
        : `the authorization hook answered ${res.status}: access refused`);
    }
    const access: ChannelAccess = (body as { write?: unknown }).write === false ? 'read' : 'write';
    if (action === 'write' && access !== 'write') throw new HookRefusal(`the application allows ${user} only to read ${channel}`);
    this.cache.set(key, { access, until: Date.now() + this.cacheMs });
    if (this.cache.size > 100_000) this.prune();
    return access;
  }

  private prune(): void {
    const now = Date.now();
    for (const [k, v] of this.cache) if (v.until <= now) this.cache.delete(k);
  }
}
