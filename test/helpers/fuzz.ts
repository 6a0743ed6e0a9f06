/** Deterministic random frames for the fuzz test: valid, mutated, random, binary and oversized. */

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const UNICODE = ['', 'a', 'é', '😀', '\u0000', '\ud800', '\udfff', '\u200b', '\u202e', '\ufeff', '𝕏', '\n', '"', '\\', '<script>', 'ﷺ', '\u0301'];
const CHANNELS = ['general', 'fuzz', 'a', 'x'.repeat(64), 'x'.repeat(65), 'bad name', '-x', 'a.b:c_d-e', '', '😀', 'Ωmega'];
const TYPES = [
  'join', 'leave', 'message', 'ping', 'presence', 'JOIN', 'msg', '', 'welcome', 'ack',
  'edit', 'delete', 'react', 'unreact', 'typing', 'read', 'page', 'update',
];
const EMOJI = ['👍', '🎉', 'x', '', 'a'.repeat(33), '\u0007', '😀😀😀😀😀😀😀😀😀'];

export type FuzzFrame = { data: string | Uint8Array; binary: boolean; oversized: boolean };

export function fuzzFrames(seed: number, count: number, maxPayload: number): FuzzFrame[] {
  const r = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(r() * list.length)] as T;
  const str = (): string => Array.from({ length: Math.floor(r() * 6) }, () => pick(UNICODE)).join('');
  const num = (): unknown => pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 41, '5', null, true]);
  const value = (depth: number): unknown => {
    const k = r();
    if (depth > 3 || k < 0.3) return pick([str(), num(), null, true, false]);
    if (k < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(r() * 4) }, () => [pick(['type', 'channel', 'text', 'id', 'since', 'seq', 'emoji', str()]), value(depth + 1)]));
  };
  const valid = (): Record<string, unknown> => {
    const type = pick(TYPES);
    const frame: Record<string, unknown> = { type };
    if (r() < 0.9) frame.channel = r() < 0.7 ? pick(CHANNELS) : value(2);
    if (r() < 0.6) frame.text = r() < 0.7 ? `${str()}${str()}` : value(2);
    if (r() < 0.5) frame.id = r() < 0.7 ? `id-${Math.floor(r() * 1e6)}` : value(2);
    if (r() < 0.3) frame.since = num();
    if (r() < 0.4) frame.seq = r() < 0.5 ? 1 + Math.floor(r() * 5) : num();
    if (r() < 0.3) frame.emoji = r() < 0.7 ? pick(EMOJI) : value(2);
    if (r() < 0.2) frame.before = r() < 0.5 ? 1 + Math.floor(r() * 10) : num();
    if (r() < 0.2) frame.limit = r() < 0.5 ? Math.floor(r() * 120) : num();
    return frame;
  };
  const mutate = (text: string): string => {
    const chars = [...text];
    const n = 1 + Math.floor(r() * 4);
    for (let i = 0; i < n && chars.length > 0; i++) {
      const at = Math.floor(r() * chars.length);
      const op = r();
      if (op < 0.33) chars.splice(at, 1);
      else if (op < 0.66) chars.splice(at, 0, pick(['{', '}', '"', ',', ':', '[', ']', '\\', pick(UNICODE)]));
      else chars[at] = pick(['"', '{', '0', 'ü', '\u0000']);
    }
    return chars.join('');
  };
  const frames: FuzzFrame[] = [];
  for (let i = 0; i < count; i++) {
    const k = r();
    if (k < 0.3) frames.push({ data: JSON.stringify(valid()), binary: false, oversized: false });
    else if (k < 0.55) frames.push({ data: mutate(JSON.stringify(valid())), binary: false, oversized: false });
    else if (k < 0.7) frames.push({ data: JSON.stringify(value(0)), binary: false, oversized: false });
    else if (k < 0.78) {
      const depth = 1 + Math.floor(r() * 20_000);
      const data = r() < 0.5 ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      frames.push({ data, binary: false, oversized: Buffer.byteLength(data) > maxPayload });
    } else if (k < 0.86) frames.push({ data: Uint8Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256)), binary: true, oversized: false });
    else if (k < 0.995) frames.push({ data: pick(['', ' ', 'null', '1e999', '"just a string"', '{"type":"message","channel":"fuzz","text":"' + 'y'.repeat(5000) + '"}', str()]), binary: false, oversized: false });
    else frames.push({ data: 'z'.repeat(maxPayload + 1 + Math.floor(r() * 1000)), binary: false, oversized: true });
  }
  return frames;
}
