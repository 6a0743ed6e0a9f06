/**
 * Turns one inbound job into stored, routed events (messages and updates): groups the batch by channel (keeping each
 * channel's order) and runs the channel's atomic Lua step for each group. Redis errors are
 * retried inside the job rather than failing it, so a later job of the partition can never
 * overtake an earlier one; a job abandoned by a dead worker is re-run from the front of its queue
 * and the Lua step's de-duplication makes the re-run store nothing twice. A worker that is told
 * to stop while Redis is away exits with the job unfinished; it stalls and another worker re-runs
 * it first.
 */
import { checkInboundJob, type ChannelStore, type InboundJobData, type InboundMessage, type Logger } from '@chat/shared';

export interface PersistResult {
  stored: number;
  duplicates: number;
  /** Updates that found nothing to change (target deleted, trimmed, not the author's, a no-op reaction). */
  dropped: number;
}

/** Thrown for job data that can never be stored; the job fails and stays visible. */
export class InvalidJobError extends Error {
  override name = 'InvalidJobError';
}

export class Persister {
  constructor(
    private readonly store: ChannelStore,
    private readonly concurrency: number,
    private readonly logger: Logger,
  ) {}

  async persist(data: unknown): Promise<PersistResult> {
    const problem = checkInboundJob(data);
    if (problem) throw new InvalidJobError(problem);
    const groups = new Map<string, InboundMessage[]>();
    for (const m of (data as InboundJobData).messages) {
      const group = groups.get(m.channel);
      if (group) group.push(m); else groups.set(m.channel, [m]);
    }
    const result: PersistResult = { stored: 0, duplicates: 0, dropped: 0 };
    const pending = [...groups];
    const run = async (): Promise<void> => {
      for (let next = pending.shift(); next; next = pending.shift()) {
        const seqs = await this.persistWithRetry(next[0], next[1]);
        for (const s of seqs) {
          const seq = Number(s);
          if (seq > 0) result.stored++; else if (seq === 0) result.duplicates++; else result.dropped++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, groups.size) }, run));
    return result;
  }

  private async persistWithRetry(channel: string, messages: InboundMessage[]): Promise<number[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.store.persist(channel, messages);
      } catch (err) {
        const delay = Math.min(50 * 2 ** attempt, 1000);
        if (attempt === 0 || attempt % 20 === 0) {
          this.logger.warn('persist failed; retrying', { channel, attempt, error: (err as Error).message });
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
