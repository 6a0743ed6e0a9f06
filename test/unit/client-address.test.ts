import { expect } from 'chai';
import { TrustedProxies } from '@chat/push-server';

describe('client address behind trusted proxies (TRUST_PROXY)', function () {
  const proxies = new TrustedProxies(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);

  it('takes the right-most untrusted X-Forwarded-For hop from a trusted proxy', function () {
    expect(proxies.clientAddress('127.0.0.1', '127.0.0.2')).to.equal('127.0.0.2');
    expect(proxies.clientAddress('127.0.0.1', '203.0.113.7, 10.1.2.3')).to.equal('203.0.113.7');
    expect(proxies.clientAddress('10.9.9.9', ['198.51.100.1', '10.0.0.2, 10.0.0.3'])).to.equal('198.51.100.1');
    expect(proxies.clientAddress('::ffff:127.0.0.1', '2001:db8::5')).to.equal('2001:db8::5');
    expect(proxies.clientAddress('fd00::1', '2001:db8::5, fd12::9')).to.equal('2001:db8::5');
  });

  it('ignores a spoofed header: a client-supplied hop left of the real one, or any header from an untrusted peer', function () {
    // nginx appends the real peer to whatever the client sent.
    expect(proxies.clientAddress('127.0.0.1', '1.2.3.4, 127.0.0.5')).to.equal('127.0.0.5');
    expect(proxies.clientAddress('127.0.0.3', '1.2.3.4')).to.equal('127.0.0.3');
    expect(proxies.clientAddress('::ffff:198.51.100.9', '10.0.0.1')).to.equal('198.51.100.9');
    expect(new TrustedProxies([]).clientAddress('127.0.0.1', '1.2.3.4')).to.equal('127.0.0.1');
  });

  it('falls back safely on odd headers', function () {
    expect(proxies.clientAddress('127.0.0.1', undefined)).to.equal('127.0.0.1');
    expect(proxies.clientAddress('127.0.0.1', 'garbage, 10.0.0.1')).to.equal('127.0.0.1');
    expect(proxies.clientAddress('127.0.0.1', '10.0.0.7, 10.0.0.1'), 'all hops trusted: the left-most').to.equal('10.0.0.7');
    expect(proxies.clientAddress(undefined, '1.2.3.4')).to.equal('unknown');
  });

  it('refuses an entry that is not an address or CIDR', function () {
    for (const bad of ['10.0.0.0/33', 'nginx', '10.0.0.1/8/2', 'fd00::/129', '10.0.0.0/x']) {
      expect(() => new TrustedProxies([bad]), bad).to.throw(/not an IP address or CIDR/);
    }
  });
});
