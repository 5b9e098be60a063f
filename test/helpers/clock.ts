/**
 * A clock that tests move forward instead of sleeping: real time plus an offset. Give `now` to the server
 * under test (the issuer's `clock` option) and call `advance` where a test would otherwise wait for an
 * interval or an expiry, so the test neither sleeps nor races a deadline on a loaded machine.
 */
export interface TestClock {
  /** Milliseconds since the epoch, as `Date.now()` but with every advance added. */
  now: () => number;
  advance(ms: number): void;
}

export function testClock(): TestClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}
