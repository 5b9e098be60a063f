/**
 * Debian chromium driven by playwright-core, one browser per test file (close it in teardown). Flags
 * from /work/shared/FACTS.md; playwright's launch() gives every browser a fresh temporary profile (a
 * user-data dir it deletes on close), so no state leaks between files.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/** A fresh context (no cookies) that accepts the test CA's server certificates. */
export function freshContext(browser: Browser, opts: { phone?: boolean } = {}): Promise<BrowserContext> {
  return browser.newContext({
    ignoreHTTPSErrors: true,
    ...(opts.phone
      ? { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }
      : {}),
  });
}

/** Where screenshots for reviewers go (git-ignored). */
export function artifactPath(name: string): string {
  const dir = path.resolve('test-artifacts');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

/** A phone-sized (iPhone 12-class) viewport: the CIBA device page must work there. */
export const PHONE_VIEWPORT = { width: 390, height: 844 };

/** One browser with one phone-sized context, closed together (the device-page tests' shape). */
export async function launchPhoneBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const browser = await launchChromium();
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: PHONE_VIEWPORT });
  return { context, close: () => browser.close() };
}
