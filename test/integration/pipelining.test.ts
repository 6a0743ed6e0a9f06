/**
 * A connection is pipelined: a message is handed to the queue as soon as its frame is read and
 * acknowledged when its add lands, without waiting for the previous message's ack. Frames are
 * still handled in order, so per-sender order holds, every accepted frame gets exactly one ack,
 * and a frame refused between two accepted ones gets exactly one error and changes nothing else.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { partitionOf } from '@chat/shared';
import { freePort } from '../helpers/ports.js';
import { PushServerProcess, startWorker } from '../helpers/programs.js';
import { scrapeCounter } from '../helpers/metrics.js';
import { Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

type Frame = Record<string, unknown> & { type: string };

/** A raw socket that records every frame it receives, in order, parsed. */
async function open(url: string, user: string, channels: string[]): Promise<{ ws: WebSocket; frames: Frame[] }> {
  const query = new URLSearchParams({ user });
  for (const c of channels) query.append('channel', c);
  const ws = new WebSocket(`${url}/ws?${query}`);
  const frames: Frame[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame));
  await waitFor(() => frames.filter((f) => f.type === 'history').length === channels.length || undefined,
    `${user} to get the history of ${channels.join(', ')}`);
  return { ws, frames };
}

describe('pipelining: one connection does not wait for its acks', function () {
  let stack: Stack;
  let workerMetrics: number;
  const PARTITIONS = 2;
  // Two channels in different partitions: their acks may interleave, each channel's stays in order.
  const channels = ['pipe-0', 'pipe-1', 'pipe-2', 'pipe-3', 'pipe-4', 'pipe-5'];
  const a = channels.find((c) => partitionOf(c, PARTITIONS) === 0) as string;
  const b = channels.find((c) => partitionOf(c, PARTITIONS) === 1) as string;

  before(async function () {
    workerMetrics = await freePort();
    stack = await Stack.start({ pushServers: 1, workers: 0, env: { QUEUE_PARTITIONS: String(PARTITIONS) } });
    stack.workers.push(await startWorker({ ...stack.env, METRICS_PORT: String(workerMetrics), HOST: '127.0.0.1' }));
  });
  after(async function () {
    await stack?.stop();
  });

  it('acks every accepted frame once, keeps each channel in send order, and answers a refused frame in between alone', async function () {
    const sender = await open(stack.push(0).url, 'pipe-sender', [a, b]);
    const reader = await open(stack.push(0).url, 'pipe-reader', [a, b]);
    const jobsBefore = await scrapeCounter(`http://127.0.0.1:${workerMetrics}/metrics`, 'chat_jobs_processed_total');

    const PER_CHANNEL = 400;
    const sent: Record<string, string[]> = { [a]: [], [b]: [] };
    const refused = ['refused-not-joined', 'refused-too-large', 'refused-empty'];
    // All in one tick: the server reads them back to back, none of them waits for an ack.
    for (let i = 0; i < PER_CHANNEL; i++) {
      for (const channel of [a, b]) {
        const id = `${channel}-${i}`;
        sent[channel]!.push(id);
        sender.ws.send(JSON.stringify({ type: 'message', channel, id, text: id }));
      }
      if (i === PER_CHANNEL / 2) {
        sender.ws.send(JSON.stringify({ type: 'message', channel: 'pipe-not-joined', id: refused[0], text: 'x' }));
        sender.ws.send(JSON.stringify({ type: 'message', channel: a, id: refused[1], text: 'x'.repeat(5000) }));
        sender.ws.send(JSON.stringify({ type: 'message', channel: b, id: refused[2], text: '' }));
      }
    }
    const total = 2 * PER_CHANNEL;
    await waitFor(() => sender.frames.filter((f) => f.type === 'ack').length >= total || undefined, `${total} acks`, 30_000);
    const messagesAt = (who: { frames: Frame[] }, channel: string): Frame[] => who.frames.filter((f) => f.type === 'message' && f.channel === channel);
    await waitFor(() => messagesAt(reader, a).length + messagesAt(reader, b).length >= total || undefined, `${total} deliveries to the reader`, 30_000);
    // Anything late or doubled would arrive after this round trip through the same socket.
    sender.ws.send('{"type":"ping"}');
    await waitFor(() => sender.frames.some((f) => f.type === 'pong') || undefined, 'a pong');

    const acks = sender.frames.filter((f) => f.type === 'ack');
    expect(acks.length, 'acks').to.equal(total);
    for (const channel of [a, b]) {
      expect(acks.filter((f) => f.channel === channel).map((f) => f.id), `acks of ${channel} in send order, each once`).to.deep.equal(sent[channel]);
    }
    const errors = sender.frames.filter((f) => f.type === 'error');
    expect(errors.map((e) => [e.ref, e.code]).sort(), 'one error per refused frame').to.deep.equal(
      [[refused[0], 'not_joined'], [refused[1], 'too_large'], [refused[2], 'bad_request']].sort());
    for (const channel of [a, b]) {
      const got = messagesAt(reader, channel);
      expect(got.map((m) => m.id), `${channel}: every message once, in send order`).to.deep.equal(sent[channel]);
      expect(got.map((m) => m.seq), `${channel}: seqs 1..${PER_CHANNEL}`).to.deep.equal(Array.from({ length: PER_CHANNEL }, (_, i) => i + 1));
    }

    // A connection that waited for each ack would put one message in each job: pipelined, the
    // messages read while an add is in flight share the next job.
    const jobs = await scrapeCounter(`http://127.0.0.1:${workerMetrics}/metrics`, 'chat_jobs_processed_total') - jobsBefore;
    expect(jobs, `jobs for ${total} messages`).to.be.at.most(total / 4);
    sender.ws.terminate();
    reader.ws.terminate();
  });

  it('answers rate-limited messages with their id while the accepted ones around them are acked in order', async function () {
    // A push server of its own with a small bucket: 10 messages at once, then 10 a second.
    const limited = await PushServerProcess.start({ ...stack.env, RATE_LIMIT: '10', RATE_BURST: '10' });
    try {
      const channel = 'pipe-rate';
      const sender = await open(limited.url, 'pipe-flood', [channel]);
      const ids = Array.from({ length: 40 }, (_, i) => `flood-${i}`);
      for (const id of ids) sender.ws.send(JSON.stringify({ type: 'message', channel, id, text: id }));
      await waitFor(() => sender.frames.filter((f) => f.type === 'ack' || f.type === 'error').length >= ids.length || undefined,
        'an answer to every message', 30_000);
      const answers = sender.frames.filter((f) => f.type === 'ack' || f.type === 'error');
      expect(answers.length, 'one answer per message').to.equal(ids.length);
      const acked = answers.filter((f) => f.type === 'ack').map((f) => f.id as string);
      const refused = answers.filter((f) => f.type === 'error').map((f) => { expect(f.code).to.equal('rate_limited'); return f.ref as string; });
      expect(new Set([...acked, ...refused]).size, 'each id answered once').to.equal(ids.length);
      expect(acked.slice(0, 10), 'the burst is accepted').to.deep.equal(ids.slice(0, 10));
      expect(acked, 'accepted ones acked in send order').to.deep.equal(ids.filter((id) => acked.includes(id)));
      expect(refused.length, 'refused beyond the burst').to.be.at.least(20);
      const stored = await waitFor(async () => {
        const res = await fetch(`${limited.httpUrl}/channels/${channel}/messages`);
        const body = (await res.json()) as { messages: { id: string }[] };
        return body.messages.at(-1)?.id === acked.at(-1) ? body.messages : undefined;
      }, 'the accepted messages to be stored');
      expect(stored.map((m) => m.id), 'the last 10 stored are the last 10 accepted, in order').to.deep.equal(acked.slice(-10));
      sender.ws.terminate();
    } finally {
      await limited.program.kill();
    }
  });
});
