import { constants, PerformanceObserver } from 'node:perf_hooks';
import { expect } from 'chai';
import { ChannelGrants, widerAccess } from '@chat/shared';

describe('channel grants (the authorization matcher)', function () {
  it('lets a token without claims use every channel, with write', function () {
    const g = ChannelGrants.fromClaims({ sub: 'alice' });
    expect(g.isUnrestricted).to.equal(true);
    for (const c of ['general', 'team-1:x', 'dm:alice:bob']) expect(g.access(c)).to.equal('write');
  });

  it('matches exact names, prefix* and *', function () {
    const g = ChannelGrants.fromClaims({ channels: ['general', 'team-1:*'], channels_read: ['announce', 'news-*'] });
    expect(g.access('general')).to.equal('write');
    expect(g.access('general2'), 'exact means exact').to.equal('none');
    expect(g.access('team-1:x')).to.equal('write');
    expect(g.access('team-1:')).to.equal('write');
    expect(g.access('team-10:x'), 'the prefix includes the colon').to.equal('none');
    expect(g.access('team-2:x')).to.equal('none');
    expect(g.access('announce')).to.equal('read');
    expect(g.access('news-today')).to.equal('read');
    expect(ChannelGrants.fromClaims({ channels_read: ['*'] }).access('anything')).to.equal('read');
    expect(ChannelGrants.fromClaims({ channels: ['*'], channels_read: [] }).access('anything')).to.equal('write');
  });

  it('prefers write when both claims match', function () {
    const g = ChannelGrants.fromClaims({ channels: ['dm:alice:*'], channels_read: ['dm:*'] });
    expect(g.access('dm:alice:bob')).to.equal('write');
    expect(g.access('dm:carol:dave')).to.equal('read');
  });

  it('treats an empty list as a claim that grants nothing', function () {
    for (const claims of [{ channels: [] }, { channels_read: [] }, { channels: [], channels_read: [] }]) {
      const g = ChannelGrants.fromClaims(claims);
      expect(g.isUnrestricted).to.equal(false);
      expect(g.grantsNothing).to.equal(true);
      expect(g.access('general')).to.equal('none');
    }
  });

  it('refuses a claim that is not a list of strings', function () {
    for (const bad of [{ channels: 'general' }, { channels: [1] }, { channels_read: { a: 1 } }, { channels: null }]) {
      expect(() => ChannelGrants.fromClaims(bad as Record<string, unknown>)).to.throw(/must be a list of channel patterns/);
    }
  });

  it('answers a lookup without allocating', async function () {
    const g = ChannelGrants.fromClaims({ channels: ['a', 'b', 'team-1:*', 'team-2:*'], channels_read: ['news-*'] });
    const names = Array.from({ length: 64 }, (_, i) => `team-${i % 4}:room-${i}`);
    let sink = 0;
    for (let i = 0; i < 1e5; i++) if (g.access(names[i & 63] as string) === 'write') sink++; // warm up (JIT)
    // Ten million lookups that allocated even 16 bytes each would fill the young generation
    // (16 MB) ten times over: scavenges (minor GCs) would run during the loop. None may. (A major
    // GC can still finish marking that earlier tests started; it says nothing about the loop.)
    const gcs: number[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs.push(e.startTime);
    });
    observer.observe({ entryTypes: ['gc'] });
    await new Promise((r) => setImmediate(r));
    const before = gcs.length;
    for (let i = 0; i < 1e7; i++) if (g.access(names[i & 63] as string) === 'write') sink++;
    await new Promise((r) => setTimeout(r, 50));
    observer.disconnect();
    expect(sink).to.be.greaterThan(0);
    expect(gcs.length - before, 'scavenges during 10,000,000 lookups').to.equal(0);
  });

  it('combines accesses', function () {
    expect(widerAccess('none', 'read')).to.equal('read');
    expect(widerAccess('read', 'write')).to.equal('write');
    expect(widerAccess('none', 'none')).to.equal('none');
  });
});
