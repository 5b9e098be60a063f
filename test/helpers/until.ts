/**
 * Polling for tests: waits for a condition instead of sleeping a guessed time, so a loaded machine makes a
 * test slower, never wrong. The timeout is a generous bound for a stuck wait, not a timing assertion.
 */

/** Polls `check` until it returns a truthy value, which it returns; throws naming `what` after `timeoutMs`. */
export async function until<T>(
  what: string,
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
  intervalMs = 25,
): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
