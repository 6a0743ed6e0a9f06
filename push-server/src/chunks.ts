/**
 * Periodic per-channel work (heartbeats, presence sweeps, the gap check) runs in chunks, one
 * chunk's Redis round trip at a time: a burst of thousands of commands at once would hold up
 * the deliveries queued behind it for tens of milliseconds.
 */
export const CHUNK_SIZE = 50;

/** Runs `fn` on every item, `size` at a time, waiting for each chunk before the next. */
export async function inChunks<T>(items: Iterable<T>, fn: (item: T) => Promise<unknown>, size = CHUNK_SIZE): Promise<void> {
  const all = [...items];
  for (let i = 0; i < all.length; i += size) {
    await Promise.all(all.slice(i, i + size).map(fn));
  }
}
