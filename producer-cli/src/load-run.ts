/**
 * A load run: injects messages straight into the inbound queues, open-loop at a fixed rate over
 * many channels, and (with verification) receives them through real WebSocket clients to measure
 * end-to-end latency and find any message that never arrived.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import WebSocket from 'ws';
import { ChatClient, InboundQueues, type SocketLike } from '@chat/shared';

export interface LoadOptions {
  channels: number;
  count: number;
  /** Messages per second. */
  rate: number;
  /** Text size in bytes. */
  size: number;
  author: string;
  /** Channel name prefix; channels are `<prefix>-0` … */
  channelPrefix: string;
  /** Push server URLs to verify through (clients spread over them). */
  verify: string[];
  /** How long to wait for deliveries after the last ack. */
  timeoutMs: number;
  /** Called about 5 times a second while sending. */
  onProgress?(p: LoadProgress): void;
}

export interface LoadProgress { sent: number; acked: number; received: number; elapsedMs: number; total: number }

export interface LoadSummary {
  channels: number;
  count: number;
  rate: number;
  size: number;
  enqueued: number;
  enqueueErrors: number;
  firstError?: string;
  durationMs: number;
  enqueueRate: number;
  verify?: {
    servers: string[];
    clients: number;
    received: number;
    lost: number;
    duplicates: number;
    latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  };
}

const MAX_VERIFY_CLIENTS = 50;

export async function runLoad(queues: InboundQueues, options: LoadOptions): Promise<LoadSummary> {
  const runId = randomBytes(4).toString('hex');
  const channels = Array.from({ length: options.channels }, (_, i) => `${options.channelPrefix}-${i}`);
  const sentAt = new Float64Array(options.count);
  const acked = new Uint8Array(options.count);
  const received = new Uint8Array(options.count);
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  let receivedCount = 0;
  let duplicates = 0;
  const idPrefix = `${runId}-`;

  // Verification clients: up to 50, each joining a share of the channels, spread over the servers.
  const clients: ChatClient[] = [];
  if (options.verify.length > 0) {
    const n = Math.min(MAX_VERIFY_CLIENTS, channels.length);
    for (let i = 0; i < n; i++) {
      const url = options.verify[i % options.verify.length] as string;
      let client: ChatClient;
      try {
        client = await ChatClient.connect(url, { user: `verify-${runId}-${i}`, socket: (u) => new WebSocket(u) as unknown as SocketLike, timeoutMs: 5000 });
      } catch (err) {
        await Promise.all(clients.map((c) => c.close()));
        throw new Error(`cannot connect to ${url} for --verify (${(err as Error).message})`);
      }
      client.on('message', (m) => {
        if (!m.id.startsWith(idPrefix)) return;
        const k = Number(m.id.slice(idPrefix.length));
        if (!(k >= 0 && k < options.count)) return;
        if (received[k]) { duplicates++; return; }
        received[k] = 1;
        receivedCount++;
        histogram.recordValue(Math.max(1, Math.round((performance.now() - (sentAt[k] as number)) * 1000)));
      });
      clients.push(client);
    }
    await Promise.all(channels.map((c, i) => (clients[i % clients.length] as ChatClient).join(c)));
  }

  const text = 'x'.repeat(Math.max(1, options.size));
  let ackedCount = 0;
  let errors = 0;
  let firstError: string | undefined;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  let lastProgress = 0;
  let sent = 0;
  const progress = (): void => options.onProgress?.({ sent, acked: ackedCount, received: receivedCount, elapsedMs: performance.now() - start, total: options.count });

  while (sent < options.count) {
    const due = Math.min(options.count, Math.floor(((performance.now() - start) / 1000) * options.rate) + 1);
    for (; sent < due; sent++) {
      const k = sent;
      sentAt[k] = performance.now();
      pending.push(queues.enqueue({
        channel: channels[k % channels.length] as string, id: `${idPrefix}${k}`, author: options.author, text, receivedAt: Date.now(),
      }).then(() => { acked[k] = 1; ackedCount++; }, (err: Error) => { errors++; firstError ??= err.message; }));
    }
    if (performance.now() - lastProgress > 200) { lastProgress = performance.now(); progress(); }
    if (sent < options.count) await new Promise((r) => setTimeout(r, Math.max(1, Math.min(10, 1000 / options.rate))));
  }
  await Promise.all(pending);
  const durationMs = performance.now() - start;
  progress();

  let verify: LoadSummary['verify'];
  if (clients.length > 0) {
    const deadline = performance.now() + options.timeoutMs;
    while (receivedCount < ackedCount && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      if (performance.now() - lastProgress > 200) { lastProgress = performance.now(); progress(); }
    }
    progress();
    let lost = 0;
    for (let k = 0; k < options.count; k++) if (acked[k] && !received[k]) lost++;
    const ms = (us: number): number => Math.round(us / 10) / 100;
    verify = {
      servers: options.verify,
      clients: clients.length,
      received: receivedCount,
      lost,
      duplicates,
      latencyMs: {
        p50: ms(histogram.getValueAtPercentile(50)),
        p90: ms(histogram.getValueAtPercentile(90)),
        p99: ms(histogram.getValueAtPercentile(99)),
        max: ms(histogram.maxValue),
        mean: ms(histogram.mean),
      },
    };
    await Promise.all(clients.map((c) => c.close()));
  }
  return {
    channels: options.channels, count: options.count, rate: options.rate, size: options.size,
    enqueued: ackedCount, enqueueErrors: errors, ...(firstError ? { firstError } : {}),
    durationMs: Math.round(durationMs), enqueueRate: Math.round((ackedCount / durationMs) * 1000), verify,
  };
}
