/**
 * The browser chat page in Debian's Chromium against a real stack.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { mintToken } from '@chat/shared';
import type { Browser, Page } from 'playwright-core';
import { launchOrSkip, screenshot, sendFromPage, shownSeqs, shownTexts } from '../helpers/browser.js';
import { Stack, type StackOptions } from '../helpers/stack.js';
import { scrapeCounter } from '../helpers/metrics.js';

async function open(browser: Browser, stack: Stack, server: number, user: string, channel: string, extra = '', width = 1000): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height: 700 } });
  page.on('pageerror', (err) => { throw err; });
  await page.goto(`${stack.push(server).httpUrl}/?channel=${channel}&user=${encodeURIComponent(user)}&join=1${extra}`);
  await page.waitForSelector('#status[data-state="connected"]');
  return page;
}

async function waitForTexts(page: Page, expected: string[], timeout = 15_000): Promise<void> {
  await page.waitForFunction((want) => {
    const got = [...document.querySelectorAll('#log li[data-seq] .text')].map((e) => e.textContent);
    return got.length >= want.length;
  }, expected, { timeout }).catch(async () => {
    throw new Error(`timed out after ${timeout} ms waiting for the page to show ${JSON.stringify(expected)} (it shows ${JSON.stringify(await shownTexts(page))})`);
  });
  expect(await shownTexts(page)).to.deep.equal(expected);
}

/** A browser and a stack for one describe block, started before its tests and stopped after. */
function browserAndStack(options: StackOptions): { readonly browser: Browser; readonly stack: Stack } {
  const ctx = { browser: undefined as unknown as Browser, stack: undefined as unknown as Stack };
  before(async function () {
    ctx.browser = await launchOrSkip(this);
    ctx.stack = await Stack.start(options);
  });
  after(async function () {
    await ctx.browser?.close();
    await ctx.stack?.stop();
  });
  return ctx;
}

describe('browser page', function () {
  let stack: Stack;
  let browser: Browser;
  before(async function () {
    browser = await launchOrSkip(this);
    // Chromium starting up can starve the servers for a moment on a small machine: a longer
    // heartbeat keeps a live server's names from being swept as a dead one's mid-test.
    stack = await Stack.start({ pushServers: 2, workers: 2, env: { HEARTBEAT_MS: '1000' } });
  });
  after(async function () {
    await browser?.close();
    await stack?.stop();
  });

  it('lets two pages on different push servers see each other\'s messages, and a late page the history', async function () {
    const ann = await open(browser, stack, 0, 'ann', 'lobby');
    const ben = await open(browser, stack, 1, 'ben', 'lobby');
    await sendFromPage(ann, 'hello from ann');
    await waitForTexts(ben, ['hello from ann']);
    await sendFromPage(ben, 'hi ann, ben here');
    await waitForTexts(ann, ['hello from ann', 'hi ann, ben here']);
    await waitForTexts(ben, ['hello from ann', 'hi ann, ben here']);
    expect(await ann.locator('#log li.mine .text').allTextContents()).to.deep.equal(['hello from ann']);
    expect(await ann.locator('#log li[data-seq] .author').allTextContents()).to.deep.equal(['ann', 'ben']);
    expect(await ann.locator('#log li[data-seq] time').first().textContent()).to.match(/\d{1,2}:\d{2}/);
    await ann.waitForFunction(() => document.querySelectorAll('#presence li').length === 2);
    expect(await ann.locator('#presence li').allTextContents()).to.deep.equal(['ann (you)', 'ben']);
    await screenshot(ann, 'two-pages-ann');
    await screenshot(ben, 'two-pages-ben');

    const cay = await open(browser, stack, 1, 'cay', 'lobby');
    await waitForTexts(cay, ['hello from ann', 'hi ann, ben here']);
    expect(await cay.inputValue('#channel')).to.equal('lobby');
    await screenshot(cay, 'late-joiner-history');
    const phone = await open(browser, stack, 0, 'dee', 'lobby', '', 375);
    await waitForTexts(phone, ['hello from ann', 'hi ann, ben here']);
    await screenshot(phone, 'phone-width');
    // A second "ann" in the same channel is refused inline.
    const impostor = await browser.newPage();
    await impostor.goto(`${stack.push(1).httpUrl}/?channel=lobby&user=ann&join=1`);
    await impostor.waitForSelector('#error:not([hidden])');
    expect(await impostor.textContent('#error')).to.match(/already uses that name/);
    expect(await impostor.getAttribute('#status', 'data-state')).to.equal('error');
    await screenshot(impostor, 'name-taken');
    await impostor.close();
    await Promise.all([ann, ben, cay, phone].map((p) => p.close()));
  });

  it('shows an HTML or script payload as text', async function () {
    const eve = await open(browser, stack, 0, 'eve', 'html');
    const payload = '<img src=x onerror="window.__xss=1"><b>bold</b><script>window.__xss=2</script>';
    const viewer = await open(browser, stack, 1, 'vic', 'html');
    await sendFromPage(eve, payload);
    await waitForTexts(viewer, [payload]);
    expect(await viewer.evaluate(() => (window as unknown as { __xss?: number }).__xss)).to.equal(undefined);
    expect(await viewer.locator('#log b, #log img, #log script').count()).to.equal(0);
    await screenshot(viewer, 'html-as-text');
    await Promise.all([eve.close(), viewer.close()]);
  });

  it('shows the server\'s too_large inline, drops the refused message, and keeps the page usable', async function () {
    const page = await open(browser, stack, 0, 'long', 'limits');
    const tooLarge = (): Promise<number> => scrapeCounter(`${stack.push(0).httpUrl}/metrics`, 'chat_errors_total', {}, 'code="too_large"');
    const before = await tooLarge();
    await sendFromPage(page, 'x'.repeat(5000));
    await page.waitForSelector('#error:not([hidden])');
    expect(await page.textContent('#error')).to.match(/too long/);
    expect(await tooLarge() - before, 'too_large answers from the server').to.equal(1);
    expect(await page.locator('#log li.pending').count(), 'the refused message is not left pending').to.equal(0);
    await sendFromPage(page, 'short one');
    await waitForTexts(page, ['short one']);
    expect(await page.isHidden('#error')).to.equal(true);
    await page.close();
  });
});

describe('browser page: losing its push server', function () {
  const ctx = browserAndStack({ pushServers: 2, workers: 1 });

  it('reconnects to another push server when its own dies, showing what was sent meanwhile exactly once', async function () {
    const servers = `&servers=${encodeURIComponent(`${ctx.stack.push(0).url},${ctx.stack.push(1).url}`)}`;
    const away = await open(ctx.browser, ctx.stack, 0, 'away', 'resume', servers);
    const stay = await open(ctx.browser, ctx.stack, 1, 'stay', 'resume');
    await sendFromPage(stay, 'before 1');
    await waitForTexts(away, ['before 1']);
    await ctx.stack.push(0).program.kill('SIGKILL');
    await away.waitForSelector('#status[data-state="reconnecting"]');
    const meanwhile = ['during 1', 'during 2', 'during 3'];
    for (const text of meanwhile) {
      await sendFromPage(stay, text);
      await stay.waitForFunction((t) => [...document.querySelectorAll('#log li[data-seq] .text')].some((e) => e.textContent === t), text);
    }
    await away.waitForSelector('#status[data-state="connected"]', { timeout: 20_000 });
    await sendFromPage(away, 'back again');
    const expected = ['before 1', ...meanwhile, 'back again'];
    await waitForTexts(away, expected);
    await waitForTexts(stay, expected);
    expect(await shownSeqs(away)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(await away.getAttribute('#status', 'title')).to.contain(ctx.stack.push(1).serverId);
    await screenshot(away, 'reconnected');
    await Promise.all([away.close(), stay.close()]);
  });
});

describe('browser page: a message its push server never acknowledged', function () {
  const ctx = browserAndStack({ pushServers: 2, workers: 1 });

  it('is resent with its id after the reconnect, stored once and shown once', async function () {
    const servers = `&servers=${encodeURIComponent(`${ctx.stack.push(0).url},${ctx.stack.push(1).url}`)}`;
    const pend = await open(ctx.browser, ctx.stack, 0, 'pend', 'resend', servers);
    const watch = await open(ctx.browser, ctx.stack, 1, 'watch', 'resend');
    // Frozen, the push server reads nothing and acknowledges nothing; then it dies.
    ctx.stack.push(0).program.signal('SIGSTOP');
    await sendFromPage(pend, 'sent into the void');
    await pend.waitForSelector('#log li.pending');
    await ctx.stack.push(0).program.kill('SIGKILL');
    await pend.waitForSelector('#status[data-state="connected"]', { timeout: 20_000 });
    await waitForTexts(watch, ['sent into the void']);
    await waitForTexts(pend, ['sent into the void']);
    expect(await pend.locator('#log li.pending').count(), 'nothing left pending').to.equal(0);
    expect(await ctx.stack.redis.client().zcard('chat:ch:{resend}:msgs')).to.equal(1);
    await Promise.all([pend.close(), watch.close()]);
  });
});

describe('browser page: a token that expires', function () {
  const SECRET = 'page-secret-0123456789abcdef';
  let stack: Stack;
  let browser: Browser;
  let tokenServer: Server;
  let issued = 0;
  before(async function () {
    browser = await launchOrSkip(this);
    stack = await Stack.start({ pushServers: 1, workers: 1, env: { AUTH_SECRET: SECRET } });
    // The application's endpoint that hands the page a fresh short-lived token.
    tokenServer = createServer((_req, res) => {
      issued++;
      void mintToken('tina', SECRET, 4).then((t) => {
        res.writeHead(200, { 'content-type': 'text/plain', 'access-control-allow-origin': '*' });
        res.end(t);
      });
    });
    await new Promise<void>((r) => tokenServer.listen(0, '127.0.0.1', r));
  });
  after(async function () {
    await browser?.close();
    await stack?.stop();
    tokenServer?.close();
  });

  it('refreshes through getToken before exp and stays connected', async function () {
    this.timeout(30_000);
    const tokenUrl = `http://127.0.0.1:${(tokenServer.address() as AddressInfo).port}/token`;
    const first = await mintToken('tina', SECRET, 4);
    const page = await open(browser, stack, 0, 'tina', 'expiring', `&token=${first}&tokenUrl=${encodeURIComponent(tokenUrl)}`);
    const states: string[] = [];
    await page.exposeFunction('__state', (s: string) => states.push(s));
    await page.evaluate(() => {
      const el = document.querySelector('#status') as HTMLElement;
      new MutationObserver(() => (window as unknown as { __state(s: string): void }).__state(el.dataset.state ?? '')).observe(el, { attributes: true });
    });
    await page.waitForTimeout(7000); // past the first token's exp (4 s) and the next one's
    expect(issued, 'tokens fetched from the application').to.be.at.least(2);
    expect(states, 'status changes after connecting (none: it never dropped)').to.deep.equal([]);
    await sendFromPage(page, 'still here');
    await waitForTexts(page, ['still here']);
    await page.close();
  });
});

describe('browser page: server-side limits', function () {
  const ctx = browserAndStack({ pushServers: 1, workers: 1, env: { RATE_LIMIT: '2', RATE_BURST: '3' } });

  it('shows the server\'s rate_limited error inline', async function () {
    const page = await open(ctx.browser, ctx.stack, 0, 'fast', 'rate');
    for (let i = 0; i < 6; i++) await sendFromPage(page, `burst ${i}`);
    await page.waitForSelector('#error:not([hidden])');
    expect(await page.textContent('#error')).to.match(/too fast/);
    await screenshot(page, 'rate-limited');
    await page.close();
  });

});

describe('browser page: a chat app on the client library', function () {
  const ctx = browserAndStack({ pushServers: 2, workers: 2, env: { HEARTBEAT_MS: '1000' } });
  const badge = (page: Page, channel: string): Promise<string | null> =>
    page.evaluate((c) => {
      const b = document.querySelector(`#channels li[data-channel="${c}"] .badge`) as HTMLElement | null;
      return b && !b.hidden ? b.textContent : null;
    }, channel);
  const messageLi = (_page: Page, text: string): string => `#log li[data-seq]:has(.text:text-is("${text}"))`;

  it('shows two channels with unread badges, edits, deletes, reactions, typing and "seen by" across push servers', async function () {
    this.timeout(90_000);
    const ann = await open(ctx.browser, ctx.stack, 0, 'ann', 'alpha');
    const ben = await open(ctx.browser, ctx.stack, 1, 'ben', 'alpha');
    await sendFromPage(ann, 'hi ben');
    await waitForTexts(ben, ['hi ben']);
    // ann opens a second channel; alpha keeps counting what she has not seen.
    await ann.fill('#channel', 'beta');
    await ann.click('#join');
    await ann.waitForSelector('#channels li.current[data-channel="beta"]');
    await sendFromPage(ben, 'one');
    await sendFromPage(ben, 'two');
    await ann.waitForFunction(() => (document.querySelector('#channels li[data-channel="alpha"] .badge') as HTMLElement | null)?.textContent === '2');
    expect(await badge(ann, 'alpha')).to.equal('2');
    await ann.click('#channels li[data-channel="alpha"] button');
    await waitForTexts(ann, ['hi ben', 'one', 'two']);
    expect(await badge(ann, 'alpha'), 'cleared once seen').to.equal(null);
    // ben edits and deletes his own messages; ann reacts; each side sees the other's changes.
    await ben.click(`${messageLi(ben, 'one')} .actions button:text-is("Edit")`);
    await ben.fill('#text', 'one (fixed)');
    await ben.press('#text', 'Enter');
    await ann.waitForSelector(`${messageLi(ann, 'one (fixed)')} .edited`);
    await ben.click(`${messageLi(ben, 'two')} .actions button:text-is("Delete")`);
    await ann.waitForSelector('#log li.deleted .text:text-is("message deleted")');
    await ann.click(`${messageLi(ann, 'one (fixed)')} .reactions button[data-emoji="👍"]`);
    await ben.waitForSelector(`${messageLi(ben, 'one (fixed)')} .reactions button[data-emoji="👍"]:text-is("👍 1")`);
    // Typing shows at the other member while ann keeps typing (a notice goes out every 2 s).
    let typing = true;
    const keys = (async () => {
      while (typing) { await ann.type('#text', 'x'); await ann.waitForTimeout(250); }
    })();
    await ben.waitForFunction(() => document.querySelector('#typing')?.textContent === 'ann is typing…', undefined, { timeout: 15_000 });
    typing = false;
    await keys;
    await ann.fill('#text', '');
    // ben has read everything: ann's last message says so.
    await ann.waitForSelector(`${messageLi(ann, 'hi ben')} .seen:text-is("seen by ben")`);
    await screenshot(ann, 'chat-app');
    // A direct message: ann opens one from the presence list; ben opens the same from his.
    await ann.click('#presence li button:text-is("ben")');
    await ann.waitForSelector('#channels li.current[data-channel="dm:ann:ben"]');
    await sendFromPage(ann, 'psst');
    await ben.click('#presence li button:text-is("ann")');
    await waitForTexts(ben, ['psst']);
    await Promise.all([ann.close(), ben.close()]);
  });

  it('loads older messages when scrolled to the top, each once, down to the first', async function () {
    this.timeout(60_000);
    const { ChatClient } = await import('@chat/shared');
    const WebSocket = (await import('ws')).default;
    const writer = await ChatClient.connect(ctx.stack.push(0).url, { user: 'archivist', socket: (u) => new WebSocket(u) as never });
    await writer.join('archive');
    for (let i = 1; i <= 70; i++) await writer.send('archive', `old ${i}`, `a${i}`);
    await writer.close();
    const page = await open(ctx.browser, ctx.stack, 1, 'reader', 'archive');
    await page.waitForFunction(() => document.querySelectorAll('#log li[data-seq]').length >= 10);
    for (let i = 0; i < 10; i++) {
      if ((await shownSeqs(page)).length >= 70) break;
      await page.evaluate(() => { const log = document.querySelector('#log') as HTMLElement; log.scrollTop = 0; log.dispatchEvent(new Event('scroll')); });
      await page.waitForFunction((n) => document.querySelectorAll('#log li[data-seq]').length > n, (await shownSeqs(page)).length, { timeout: 5000 }).catch(() => undefined);
    }
    expect(await shownSeqs(page)).to.deep.equal(Array.from({ length: 70 }, (_, i) => i + 1));
    await page.close();
  });
});
