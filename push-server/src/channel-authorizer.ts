/**
 * The one place that decides whether a user may read or write a channel (SPEC §7), for every door:
 * WebSocket joins and writes, and the HTTP reads. The token's claims decide first; what they do
 * not grant is asked of the application's hook, when there is one. Without authentication every
 * identity is unrestricted.
 */
import type { ChannelAccess, Identity } from '@chat/shared';
import { widerAccess } from '@chat/shared';
import { HookRefusal, type AuthHook } from './auth-hook.js';

/** Access refused; the message says why in one line. */
export class ForbiddenError extends Error {
  override name = 'ForbiddenError';
}

export type Need = 'read' | 'write';

const satisfies = (access: ChannelAccess, need: Need): boolean => access === 'write' || (access === 'read' && need === 'read');

export class ChannelAuthorizer {
  constructor(private readonly hook: AuthHook | undefined) {}

  /** The access `identity` has in `channel`, at least `need`; throws ForbiddenError otherwise. */
  async authorize(identity: Pick<Identity, 'user' | 'grants'>, channel: string, need: Need): Promise<ChannelAccess> {
    const claimed = identity.grants.access(channel);
    if (satisfies(claimed, need)) return claimed;
    if (!this.hook) {
      throw new ForbiddenError(need === 'write' && claimed === 'read'
        ? `your token lets you only read ${channel}`
        : `your token does not permit ${channel}`);
    }
    try {
      return widerAccess(claimed, await this.hook.ask(identity.user, channel, need === 'write' ? 'write' : 'join'));
    } catch (err) {
      if (err instanceof HookRefusal) throw new ForbiddenError(err.message);
      throw err;
    }
  }
}
