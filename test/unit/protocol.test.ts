import { expect } from 'chai';
import { ErrorCode, parseClientFrame, utf8Length, type ParseResult } from '@chat/shared';

const limits = { maxTextBytes: 16 };
const parse = (data: string): ParseResult => parseClientFrame(data, false, limits);
const code = (r: ParseResult): string | undefined => (r.ok ? undefined : r.error.code);

describe('protocol validator', function () {
  it('accepts every well-formed client frame', function () {
    expect(parse('{"type":"ping"}')).to.deep.equal({ ok: true, frame: { type: 'ping' } });
    expect(parse('{"type":"join","channel":"general"}')).to.deep.equal({ ok: true, frame: { type: 'join', channel: 'general' } });
    expect(parse('{"type":"join","channel":"a.b:c-d_e","since":41}'))
      .to.deep.equal({ ok: true, frame: { type: 'join', channel: 'a.b:c-d_e', since: 41 } });
    expect(parse('{"type":"leave","channel":"general"}')).to.deep.equal({ ok: true, frame: { type: 'leave', channel: 'general' } });
    expect(parse('{"type":"presence","channel":"general"}')).to.deep.equal({ ok: true, frame: { type: 'presence', channel: 'general' } });
    expect(parse('{"type":"message","channel":"general","text":"hi","id":"c-123"}'))
      .to.deep.equal({ ok: true, frame: { type: 'message', channel: 'general', text: 'hi', id: 'c-123' } });
    expect(parse('{"type":"message","channel":"general","text":"hi"}'))
      .to.deep.equal({ ok: true, frame: { type: 'message', channel: 'general', text: 'hi' } });
  });

  it('accepts every well-formed chat event frame', function () {
    const ok = (data: string, frame: object): void => { expect(parse(data), data).to.deep.equal({ ok: true, frame }); };
    ok('{"type":"edit","channel":"g","id":"e-1","seq":42,"text":"fixed"}', { type: 'edit', channel: 'g', seq: 42, text: 'fixed', id: 'e-1' });
    ok('{"type":"delete","channel":"g","seq":42}', { type: 'delete', channel: 'g', seq: 42 });
    ok('{"type":"react","channel":"g","id":"r-1","seq":42,"emoji":"👍"}', { type: 'react', channel: 'g', seq: 42, emoji: '👍', id: 'r-1' });
    ok('{"type":"unreact","channel":"g","seq":1,"emoji":"x"}', { type: 'unreact', channel: 'g', seq: 1, emoji: 'x' });
    ok('{"type":"typing","channel":"g"}', { type: 'typing', channel: 'g' });
    ok('{"type":"read","channel":"g","seq":0}', { type: 'read', channel: 'g', seq: 0 });
    ok('{"type":"page","channel":"g"}', { type: 'page', channel: 'g' });
    ok('{"type":"page","channel":"g","before":41,"limit":100}', { type: 'page', channel: 'g', before: 41, limit: 100 });
  });

  it('answers malformed chat event frames with bad_request and details, and long edits with too_large', function () {
    const bad = [
      '{"type":"edit","channel":"g","text":"x"}', '{"type":"edit","channel":"g","seq":0,"text":"x"}', '{"type":"edit","channel":"g","seq":1}',
      '{"type":"edit","channel":"g","seq":1,"text":""}', '{"type":"delete","channel":"g","seq":"1"}', '{"type":"delete","channel":"g","seq":1.5}',
      '{"type":"react","channel":"g","seq":1}', '{"type":"react","channel":"g","seq":1,"emoji":""}',
      `{"type":"react","channel":"g","seq":1,"emoji":"${'a'.repeat(33)}"}`, '{"type":"react","channel":"g","seq":1,"emoji":"\u0007"}',
      '{"type":"unreact","channel":"g","seq":1,"emoji":["x"]}', '{"type":"read","channel":"g"}', '{"type":"read","channel":"g","seq":-1}',
      '{"type":"page","channel":"g","limit":0}', '{"type":"page","channel":"g","limit":101}', '{"type":"page","channel":"g","before":0}',
      '{"type":"typing"}', '{"type":"message","channel":"g","text":"\ud800"}', '{"type":"react","channel":"g","seq":1,"emoji":"\udfff"}',
      '{"type":"edit","channel":"g","seq":1,"text":"x","id":"\ud800"}',
    ];
    for (const frame of bad) {
      const r = parse(frame);
      expect(code(r), frame).to.equal(ErrorCode.BadRequest);
      if (!r.ok) expect(r.error.details, frame).to.be.an('array').with.length.greaterThan(0);
    }
    expect(code(parse(`{"type":"edit","channel":"g","seq":1,"text":"${'x'.repeat(17)}","id":"e"}`))).to.equal(ErrorCode.TooLarge);
    // 32 bytes exactly is an emoji; a paired surrogate (😀) is fine.
    expect(parse(`{"type":"react","channel":"g","seq":1,"emoji":"${'😀'.repeat(8)}"}`).ok).to.equal(true);
    expect(parse('{"type":"message","channel":"g","text":"\ud83d\ude00"}').ok).to.equal(true);
  });

  it('drops fields the server sets itself (author, timestamp, seq)', function () {
    const r = parse('{"type":"message","channel":"g","text":"x","author":"mallory","timestamp":1,"seq":5}');
    expect(r).to.deep.equal({ ok: true, frame: { type: 'message', channel: 'g', text: 'x' } });
  });

  it('answers malformed frames with bad_request and details', function () {
    const bad = [
      'not json', '', '{', 'null', '42', '"str"', '[]', '{}', '{"type":5}', '{"type":"nope"}',
      '{"type":"join"}', '{"type":"join","channel":["a"]}', '{"type":"join","channel":"a","since":1.5}',
      '{"type":"join","channel":"a","since":-3}', '{"type":"join","channel":"a","since":1e400}',
      '{"type":"join","channel":"a","since":9007199254740993}',
      '{"type":"message","channel":"a"}', '{"type":"message","channel":"a","text":""}',
      '{"type":"message","channel":"a","text":{"x":1}}', '{"type":"message","channel":"a","text":"x","id":7}',
      '{"type":"message","channel":"a","text":"x","id":""}', `{"type":"message","channel":"a","text":"x","id":"${'z'.repeat(65)}"}`,
    ];
    for (const frame of bad) {
      const r = parse(frame);
      expect(code(r), frame).to.equal(ErrorCode.BadRequest);
      if (!r.ok) expect(r.error.details, frame).to.be.an('array').with.length.greaterThan(0);
    }
  });

  it('refuses binary frames', function () {
    const r = parseClientFrame(new Uint8Array([123, 125]), true, limits);
    expect(code(r)).to.equal(ErrorCode.BadRequest);
  });

  it('answers bad channel names with invalid_channel', function () {
    for (const name of ['', ' general', 'gen eral', '-x', '_x', 'a/b', 'ä', 'x'.repeat(65), 'a{b}']) {
      expect(code(parse(JSON.stringify({ type: 'join', channel: name }))), name).to.equal(ErrorCode.InvalidChannel);
    }
    expect(code(parse(JSON.stringify({ type: 'join', channel: 'x'.repeat(64) })))).to.equal(undefined);
  });

  it('answers text past MAX_TEXT_BYTES (in UTF-8 bytes) with too_large and the ref', function () {
    const r = parse(JSON.stringify({ type: 'message', channel: 'a', text: 'é'.repeat(9), id: 'r-1' }));
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.error).to.include({ code: ErrorCode.TooLarge, ref: 'r-1' });
    expect(parse(JSON.stringify({ type: 'message', channel: 'a', text: 'é'.repeat(8) })).ok).to.equal(true);
  });

  it('carries the frame id as ref on errors', function () {
    const r = parse('{"type":"message","channel":"bad name","text":"x","id":"q-9"}');
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.error).to.include({ code: ErrorCode.InvalidChannel, ref: 'q-9' });
  });

  it('counts UTF-8 bytes like Buffer.byteLength', function () {
    for (const s of ['', 'abc', 'é', '€', '😀', 'a😀b', '\ud800', '\udc00x', 'ünïcödé 🎉'.repeat(3)]) {
      expect(utf8Length(s), JSON.stringify(s)).to.equal(Buffer.byteLength(s, 'utf8'));
    }
  });
});
