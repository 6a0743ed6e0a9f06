/**
 * Webhooks (SPEC §8) to a real HTTP receiver started by the test: every event type, signed;
 * retries that resend the same events and lose nothing; a hanging receiver that delays neither
 * chat delivery nor another channel's events; message events in seq order across retries; the
 * debounce across push servers; member.left for the users of a push server killed -9; and the
 * dispatcher's thread below the worker's own in CPU priority.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import type { ChatClient } from '@chat/shared';
import { PushServerProcess, runProducer } from '../helpers/programs.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { WebhookReceiver, type HookEvent } from '../helpers/webhook-receiver.js';

const SECRET = 'webhook-test-secret-0123456789';
const DEBOUNCE_MS = 600;

/** type[:user][:seq] of each event, for compact comparisons. */
const brief = (events: HookEvent[]): string[] => events.map((e) =>
  [e.type, e.user ?? '', e.message ? String(e.message.seq) : e.update ? `${e.update.seq}>${e.update.target}` : ''].filter(Boolean).join(':'));

describe('webhooks', function () {
  let stack: Stack;
  let receiver: WebhookReceiver;
  before(async function () {
    receiver = await WebhookReceiver.start(SECRET);
    stack = await Stack.start({
      pushServers: 2, workers: 2,
      env: { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET, WEBHOOK_DEBOUNCE_MS: String(DEBOUNCE_MS), QUEUE_PARTITIONS: '2' },
    });
  });
  after(async function () {
    await stack?.stop();
    await receiver?.stop();
  });
  afterEach(function () {
    receiver.answer = () => 200;
  });
  const of = (channel: string): HookEvent[] => receiver.delivered.filter((e) => e.channel === channel);

  it('sends every event type, signed, in order per channel', async function () {
    const alice = await stack.connect(0, 'alice');
    const bob = await stack.connect(1, 'bob');
    await alice.join('hooked');
    await bob.join('hooked');
    await alice.send('hooked', 'hello', 'h1');
    await waitFor(() => of('hooked').some((e) => e.type === 'message.stored') || undefined, 'message.stored');
    await alice.edit('hooked', 1, 'hello!', 'h1e');
    await bob.leave('hooked');
    await alice.close();
    const started = Date.now();
    await waitFor(() => of('hooked').some((e) => e.type === 'channel.vacated') || undefined, 'channel.vacated', 10_000);
    expect(Date.now() - started, 'ms to the vacated event').to.be.at.least(DEBOUNCE_MS - 100);
    const events = of('hooked');
    expect(brief(events)).to.deep.equal([
      'channel.occupied', 'member.joined:alice', 'member.joined:bob', 'message.stored:1', 'message.updated:2>1',
      'member.left:bob', 'member.left:alice', 'channel.vacated',
    ]);
    const stored = events.find((e) => e.type === 'message.stored');
    expect(stored?.message).to.include({ seq: 1, id: 'h1', author: 'alice', text: 'hello' });
    expect(events.find((e) => e.type === 'message.updated')?.update).to.include({ action: 'edit', target: 1, author: 'alice' });
    expect(new Set(events.map((e) => e.id)).size, 'unique event ids').to.equal(events.length);
    for (const r of receiver.requests) {
      expect(r.signed, 'every request carries a valid signature').to.equal(true);
      expect(Math.abs(Number(r.timestamp) - r.at)).to.be.below(5000);
    }
  });

  it('retries a batch answered 500 three times with the same event ids, and loses and reorders nothing', async function () {
    let failures = 0;
    receiver.answer = (events) => (events.some((e) => e.channel === 'retry') && failures++ < 3 ? 500 : 200);
    const writer = await stack.connect(0, 'writer');
    await writer.join('retry');
    for (let i = 1; i <= 30; i++) await writer.send('retry', `m${i}`, `r${i}`);
    await waitFor(() => of('retry').filter((e) => e.type === 'message.stored').length >= 30 || undefined, 'all 30 message events', 30_000);
    const attempts = receiver.requests.filter((r) => r.events.some((e) => e.channel === 'retry'));
    const failed = attempts.filter((r) => r.answer === 500);
    expect(failed).to.have.length(3);
    // Each retry starts with the channel's same events (later ones may join the batch).
    const ids = (r: { events: HookEvent[] } | undefined): string[] => (r?.events ?? []).filter((e) => e.channel === 'retry').map((e) => e.id);
    const firstIds = ids(failed[0]);
    for (const r of [...failed.slice(1), attempts[3]]) expect(ids(r).slice(0, firstIds.length)).to.deep.equal(firstIds);
    const seqs = of('retry').filter((e) => e.type === 'message.stored').map((e) => e.message?.seq);
    expect(seqs, 'each message once, in seq order').to.deep.equal(Array.from({ length: 30 }, (_, i) => i + 1));
    const gaps = failed.slice(1).map((r, i) => r.at - (failed[i] as { at: number }).at);
    expect(gaps[1] as number, 'the backoff grows').to.be.greaterThan((gaps[0] as number) * 1.5);
  }).timeout(60_000);

  it('does not delay chat delivery or another channel\'s events while the endpoint hangs for one channel', async function () {
    receiver.answer = (events) => (events.some((e) => e.channel === 'stuck') ? 'hang' : 200);
    const a = await stack.connect(0, 'stuck-a');
    const b = await stack.connect(1, 'stuck-b');
    await a.join('stuck');
    await b.join('stuck');
    const atB = collect(b, 'stuck');
    const free = await stack.connect(1, 'free');
    await free.join('free');
    // The stuck channel's events pile up behind a request that never gets an answer ...
    for (let i = 1; i <= 20; i++) await a.send('stuck', `s${i}`, `s${i}`);
    const sentAt = Date.now();
    await waitForCount(atB, 20, 'messages of the stuck channel at its member');
    const chatMs = Date.now() - sentAt;
    // ... while another channel's events go through at once.
    await free.send('free', 'still flowing', 'f1');
    const freeAt = Date.now();
    await waitFor(() => of('free').some((e) => e.type === 'message.stored') || undefined, 'the other channel\'s message event', 5000);
    const otherMs = Date.now() - freeAt;
    console.log(`      with one channel's webhook hanging: its 20 messages delivered in ${chatMs} ms, another channel's event in ${otherMs} ms`);
    expect(chatMs, 'chat delivery (ms)').to.be.below(2000);
    // At worst it shared a request with the hanging channel: given up after 1 s, then sent alone.
    expect(otherMs, 'the other channel\'s webhook (ms), well under the 5 s of a hung request').to.be.below(3000);
    expect(of('stuck').some((e) => e.type === 'message.stored'), 'the stuck channel got nothing acknowledged').to.equal(false);
    // Once the endpoint answers again, the stuck channel's events arrive, all of them, in order.
    receiver.answer = () => 200;
    await waitFor(() => of('stuck').filter((e) => e.type === 'message.stored').length >= 20 || undefined, 'the stuck channel\'s events after the endpoint recovers', 30_000);
    expect(of('stuck').filter((e) => e.type === 'message.stored').map((e) => e.message?.seq)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 1));
  }).timeout(60_000);

  it('runs the dispatcher in a thread at a lower CPU priority than the worker\'s own thread', async function () {
    // Field 19 of /proc/<pid>/task/<tid>/stat is the thread's nice value (after the command's ")").
    const nice = (pid: number, tid: string): number => Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]?.split(' ')[16]);
    for (const worker of stack.workers) {
      const threads = await waitFor(() => {
        const all = readdirSync(`/proc/${worker.pid}/task`).map((tid) => ({ tid, nice: nice(worker.pid, tid) }));
        return all.some((t) => t.nice === 10) ? all : undefined;
      }, 'a thread at nice 10 in the worker');
      expect(threads.find((t) => t.tid === String(worker.pid))?.nice, 'the worker\'s main thread').to.equal(0);
    }
  });

  it('sends no member.left (nor a second member.joined) for a user who reconnects to the other push server within the debounce', async function () {
    const stay = await stack.connect(0, 'anchor');
    await stay.join('bounce');
    const hopper = await stack.connect(0, 'hopper');
    await hopper.join('bounce');
    await waitFor(() => of('bounce').some((e) => e.type === 'member.joined' && e.user === 'hopper') || undefined, 'hopper joined');
    await hopper.close();
    const back = await stack.connect(1, 'hopper');
    await back.join('bounce');
    // Past the debounce, with a barrier event behind it: nothing about hopper in between.
    await new Promise((r) => setTimeout(r, DEBOUNCE_MS + 300));
    await stay.send('bounce', 'barrier', 'barrier');
    await waitFor(() => of('bounce').some((e) => e.type === 'message.stored') || undefined, 'the barrier message event');
    expect(brief(of('bounce'))).to.deep.equal(['channel.occupied', 'member.joined:anchor', 'member.joined:hopper', 'message.stored:1']);
  });

  it('sends member.left for the users of a push server killed -9, within 3 heartbeats and the debounce', async function () {
    const extra = await PushServerProcess.start(stack.env);
    stack.pushServers.push(extra);
    const { ChatClient } = await import('@chat/shared');
    const WebSocket = (await import('ws')).default;
    const victims: ChatClient[] = [];
    for (const user of ['doomed-1', 'doomed-2']) {
      const c = await ChatClient.connect(extra.url, { user, socket: (u) => new WebSocket(u) as never });
      await c.join('crash');
      victims.push(c);
    }
    const survivor = await stack.connect(0, 'survivor');
    await survivor.join('crash');
    await waitFor(() => of('crash').filter((e) => e.type === 'member.joined').length >= 3 || undefined, 'three joins');
    const killedAt = Date.now();
    await extra.program.kill('SIGKILL');
    await waitFor(() => of('crash').filter((e) => e.type === 'member.left').length >= 2 || undefined, 'member.left for both', 15_000);
    const tookMs = Date.now() - killedAt;
    const heartbeat = Number(stack.env.HEARTBEAT_MS);
    console.log(`      member.left for a killed push server's users ${tookMs} ms after the kill (heartbeat ${heartbeat} ms, debounce ${DEBOUNCE_MS} ms)`);
    expect(tookMs).to.be.below(3 * heartbeat + DEBOUNCE_MS + 1500);
    expect(brief(of('crash')).filter((b) => b.startsWith('member.left')).sort()).to.deep.equal(['member.left:doomed-1', 'member.left:doomed-2']);
    expect(of('crash').some((e) => e.type === 'channel.vacated'), 'the survivor is still there').to.equal(false);
    for (const v of victims) await v.close().catch(() => undefined);
  });

  it('shows deliveries in chat-producer stats, and lists and queues again a given-up batch with chat-producer webhooks', async function () {
    // A batch as the dispatcher leaves it after 24 h of failures.
    const events = [{ id: 'given-up:1', type: 'member.joined', timestamp: Date.now(), channel: 'given-up', user: 'old' }];
    await stack.redis.client().rpush('{chat:hooks}:failed', JSON.stringify({ channel: 'given-up', events, error: 'HTTP 500', failedAt: Date.now(), attempts: 40 }));
    const stats = await runProducer(['stats', '--redis', stack.redis.url]);
    expect(stats.code, stats.stderr).to.equal(0);
    expect(stats.stdout).to.match(/webhooks: \d+ channels pending, \d+ retrying, 1 failed \(chat-producer webhooks --retry\)/);
    const list = await runProducer(['webhooks', '--redis', stack.redis.url]);
    expect(list.stdout).to.match(/given-up: 1 event\(s\) after 40 attempts: HTTP 500/);
    const retry = await runProducer(['webhooks', '--retry', '--redis', stack.redis.url]);
    expect(retry.stdout).to.match(/queued 1 batch\(es\) again/);
    await waitFor(() => of('given-up').some((e) => e.id === 'given-up:1') || undefined, 'the batch delivered after --retry');
    expect(await stack.redis.client().llen('{chat:hooks}:failed')).to.equal(0);
  });
});
