/**
 * The server API (SPEC §8) against real push servers and workers: the key, all-or-nothing
 * batches, de-duplication, 202 meaning durably queued (read back once stored), a moderator's
 * delete as an update, and a disconnect that closes a user's sockets on every push server.
 */
import { expect } from 'chai';
import type { ChannelEvent, MessageFrame, UpdateFrame } from '@chat/shared';
import { Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const KEY = 'server-api-test-key-0123456789abcdef';

describe('server API', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 1, env: { SERVER_API_KEY: KEY } });
  });
  after(async function () {
    await stack?.stop();
  });

  const api = async (method: string, path: string, body?: unknown, key: string | null = KEY, server = 0): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${stack.push(server).httpUrl}${path}`, {
      method,
      headers: { ...(key === null ? {} : { authorization: `Bearer ${key}` }), 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) as Record<string, unknown> : {} };
  };
  const stored = async (channel: string): Promise<ChannelEvent[]> =>
    (await api('GET', `/channels/${channel}/messages?since=0`)).json.messages as ChannelEvent[];

  it('refuses a missing or wrong key with 401, unknown paths with 404 and wrong methods with 405', async function () {
    expect((await api('POST', '/api/messages', { channel: 'x', text: 'y' }, null)).status).to.equal(401);
    const wrong = await api('POST', '/api/messages', { channel: 'x', text: 'y' }, 'not-the-key-not-the-key-not');
    expect(wrong.status).to.equal(401);
    expect((wrong.json.error as { code: string }).code).to.equal('unauthorized');
    expect((await api('GET', '/api/nothing-here')).status).to.equal(404);
    const method = await api('GET', '/api/messages');
    expect([method.status, (method.json.error as { code: string }).code]).to.deep.equal([405, 'method_not_allowed']);
  });

  it('stores a posted message once per author and id, and a 202 is in the queue (read back when stored)', async function () {
    const one = await api('POST', '/api/messages', { channel: 'api-1', text: 'deploy done', author: 'ci', id: 'd-77' });
    expect(one).to.deep.equal({ status: 202, json: { accepted: [{ channel: 'api-1', id: 'd-77' }] } });
    const again = await api('POST', '/api/messages', { channel: 'api-1', text: 'deploy done', author: 'ci', id: 'd-77' }, KEY, 1);
    expect(again.status).to.equal(202);
    const plain = await api('POST', '/api/messages', { channel: 'api-1', text: 'no author' });
    expect(plain.status).to.equal(202);
    await waitFor(async () => (await stored('api-1')).length >= 2 || undefined, 'both messages stored');
    const list = await stored('api-1') as MessageFrame[];
    expect(list.map((m) => [m.seq, m.author, m.text])).to.deep.equal([[1, 'ci', 'deploy done'], [2, 'server', 'no author']]);
    expect(list[1]?.id).to.match(/^api-/);
  });

  it('enqueues a batch in order, with a repeat inside it once, and nothing of a batch with one bad item', async function () {
    const bad = await api('POST', '/api/messages', { messages: [
      { channel: 'api-batch', text: 'fine', id: 'b0' }, { channel: 'bad name', text: 'x' }, { channel: 'api-batch', text: '' },
    ] });
    expect(bad.status).to.equal(400);
    const error = bad.json.error as { code: string; details: string[] };
    expect(error.code).to.equal('bad_request');
    expect(error.details).to.have.length(2);
    expect(error.details[0]).to.match(/^messages\[1\]: /);
    const batch = Array.from({ length: 500 }, (_, i) => ({ channel: `api-b${i % 3}`, text: `t${i}`, id: `b${i}` }));
    batch.splice(10, 0, { channel: 'api-b1', text: 't1', id: 'b1' }); // a repeat of item 1
    const ok = await api('POST', '/api/messages', { messages: batch });
    expect(ok.status).to.equal(202);
    expect((ok.json.accepted as Array<{ id: string }>).map((a) => a.id)).to.deep.equal(batch.map((m) => m.id));
    for (let c = 0; c < 3; c++) {
      const want = Array.from({ length: 500 }, (_, i) => i).filter((i) => i % 3 === c).map((i) => `t${i}`);
      await waitFor(async () => (await stored(`api-b${c}`)).length >= want.length || undefined, `api-b${c} stored`);
      expect((await stored(`api-b${c}`) as MessageFrame[]).map((m) => m.text), `api-b${c} in batch order, once each`).to.deep.equal(want);
    }
    // The bad batch's good item was never enqueued.
    expect(await stack.redis.client().exists('chat:ch:{api-batch}:seq')).to.equal(0);
    const many = await api('POST', '/api/messages', { messages: Array.from({ length: 1001 }, (_, i) => ({ channel: 'c', text: `${i}` })) });
    expect(many.status).to.equal(400);
    const huge = await api('POST', '/api/messages', JSON.stringify({ channel: 'c', text: 'x'.repeat(1024 * 1024) }));
    expect([huge.status, (huge.json.error as { code: string }).code]).to.deep.equal([413, 'too_large']);
    expect((await api('POST', '/api/messages', '{not json')).status).to.equal(400);
  });

  it('deletes any message as a moderator through an update by server, once', async function () {
    const alice = await stack.connect(0, 'alice');
    const bob = await stack.connect(1, 'bob');
    await alice.join('mod');
    await bob.join('mod');
    const updates: UpdateFrame[] = [];
    bob.on('update', (u) => updates.push(u));
    await alice.send('mod', 'something bad', 'bad-1');
    await waitFor(async () => (await stored('mod')).length === 1 || undefined, 'the message');
    expect((await api('DELETE', '/api/channels/mod/messages/1')).status).to.equal(202);
    await waitFor(() => updates.length === 1 || undefined, 'the delete update');
    expect(updates[0]).to.include({ action: 'delete', author: 'server', id: 'api-delete-1', target: 1, seq: 2 });
    expect((await api('DELETE', '/api/channels/mod/messages/1')).status, 'already deleted').to.equal(202);
    expect((await api('DELETE', '/api/channels/mod/messages/2')).status, 'the seq of an update').to.equal(404);
    expect((await api('DELETE', '/api/channels/mod/messages/99')).status, 'an unknown seq').to.equal(404);
    expect((await api('DELETE', '/api/channels/mod/messages/x')).status).to.equal(400);
    await bob.ping();
    expect(updates).to.have.length(1);
    const [message] = await stored('mod') as MessageFrame[];
    expect(message).to.include({ deleted: true, text: '', author: 'alice' });
  });

  it('closes every connection of a user on both push servers with 4003 within a second', async function () {
    const tabs = [await stack.connect(0, 'banned'), await stack.connect(1, 'banned')];
    const other = await stack.connect(0, 'innocent');
    const closed = tabs.map((t) => t.waitClosed());
    const started = Date.now();
    expect((await api('POST', '/api/users/banned/disconnect')).status).to.equal(202);
    const codes = await Promise.all(closed);
    expect(codes.map((c) => c.code)).to.deep.equal([4003, 4003]);
    expect(Date.now() - started, 'ms until both were closed').to.be.below(1000);
    await other.ping();
    expect(other.isOpen).to.equal(true);
    expect((await api('POST', '/api/users/nobody-here/disconnect')).status).to.equal(202);
  });
});
