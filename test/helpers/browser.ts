/**
 * Debian's Chromium driven by playwright-core. Without /usr/bin/chromium the browser tests are
 * skipped with the install hint, except under CI=true where that is a failure.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = fileURLToPath(new URL('../../artifacts/', import.meta.url));
const HINT = 'Chromium is not installed: apt-get install chromium (browser tests need /usr/bin/chromium)';

/** Launches Chromium, or skips the suite (fails it under CI=true) when it is missing. */
export async function launchOrSkip(ctx: Mocha.Context): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === 'true') throw new Error(HINT);
    console.log(`      (skipped: ${HINT})`);
    ctx.skip();
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: false });
}

/** The texts of the stored messages the page shows, in order. */
export function shownTexts(page: Page): Promise<string[]> {
  return page.$$eval('#log li[data-seq] .text', (els) => els.map((e) => e.textContent ?? ''));
}

export function shownSeqs(page: Page): Promise<number[]> {
  return page.$$eval('#log li[data-seq]', (els) => els.map((e) => Number(e.getAttribute('data-seq'))));
}

export async function sendFromPage(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}
