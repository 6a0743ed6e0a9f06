/**
 * docs/protocol.schema.json against the validator: the same client frame types, and for each
 * one a frame built from the schema's required fields is accepted, losing any of them is
 * `bad_request`, and adding every optional field is still accepted.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { CLIENT_FRAME_TYPES, parseClientFrame } from '@chat/shared';

interface Def { properties: Record<string, unknown>; required: string[] }
const schema = JSON.parse(readFileSync(fileURLToPath(new URL('../../../docs/protocol.schema.json', import.meta.url)), 'utf8')) as {
  $defs: { client: Record<string, Def>; server: Record<string, Def> };
};

/** A valid value for each field name a client frame can carry. */
const SAMPLE: Record<string, unknown> = {
  channel: 'general', since: 3, text: 'hi', id: 'c-1', seq: 2, emoji: '👍', before: 5, limit: 10, token: 'x.y.z',
};

describe('protocol JSON Schema (docs/protocol.schema.json)', function () {
  it('names exactly the client frame types the validator accepts', function () {
    expect(Object.keys(schema.$defs.client).sort()).to.deep.equal([...CLIENT_FRAME_TYPES].sort());
  });

  it('agrees with the validator on each client frame\'s required and optional fields', function () {
    for (const [type, def] of Object.entries(schema.$defs.client)) {
      const required = Object.fromEntries(def.required.map((f) => [f, f === 'type' ? type : SAMPLE[f]]));
      const full = Object.fromEntries(Object.keys(def.properties).map((f) => [f, f === 'type' ? type : SAMPLE[f]]));
      for (const frame of [required, full]) {
        expect(parseClientFrame(JSON.stringify(frame), false, { maxTextBytes: 4096 }).ok, `${JSON.stringify(frame)} is accepted`).to.equal(true);
      }
      if (type === 'refresh') continue; // accepted as a frame; refused later when authentication is off
      for (const field of def.required.filter((f) => f !== 'type')) {
        const { [field]: _dropped, ...rest } = required;
        void _dropped;
        const r = parseClientFrame(JSON.stringify(rest), false, { maxTextBytes: 4096 });
        expect(r.ok ? 'accepted' : r.error.code, `${type} without ${field}`).to.equal('bad_request');
      }
    }
  });

  it('describes every server frame type', function () {
    expect(Object.keys(schema.$defs.server).sort()).to.deep.equal([
      'ack', 'error', 'history', 'left', 'message', 'page', 'pong', 'presence', 'receipts', 'refreshed', 'typing', 'update', 'welcome',
    ]);
  });
});
