import t from 'tap';
import { DpopNonces } from '../../src/dpop/index.js';

const NQCHAR = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

t.test('a nonce is 1*NQCHAR and stable within its window', (t) => {
  let now = 300 * 3333; // the start of a window
  const nonces = new DpopNonces({ rotateSeconds: 300, now: () => now });
  const first = nonces.current();
  t.match(first, NQCHAR);
  now += 299;
  t.equal(nonces.current(), first);
  now += 1;
  t.not(nonces.current(), first, 'a new window, a new nonce');
  t.end();
});

t.test('accepted for between two and three rotateSeconds after issue, whenever in its window', (t) => {
  for (const rotateSeconds of [2, 300]) {
    for (const offset of [0, 0.5, 0.999]) {
      let now = 1_000_000 * rotateSeconds + offset * rotateSeconds;
      const nonces = new DpopNonces({ rotateSeconds, now: () => now });
      const issuedAt = now;
      const nonce = nonces.current();
      t.ok(nonces.isValid(nonce), `rotate ${rotateSeconds}, offset ${offset}: valid at once`);
      now = issuedAt + 2 * rotateSeconds - 0.001;
      t.ok(nonces.isValid(nonce), 'still valid just before two periods');
      now = issuedAt + 3 * rotateSeconds;
      t.notOk(nonces.isValid(nonce), 'stale after three periods');
      // The exact end of acceptance: the start of the third window after the one it was issued in.
      const end = (Math.floor(issuedAt / rotateSeconds) + 3) * rotateSeconds;
      now = end - 0.001;
      t.ok(nonces.isValid(nonce), 'valid until the end of the second window after');
      now = end;
      t.notOk(nonces.isValid(nonce), 'refused from then on');
      t.ok(end - issuedAt > 2 * rotateSeconds && end - issuedAt <= 3 * rotateSeconds);
    }
  }
  t.end();
});

t.test("replicas with the same secret accept each other's nonces; another secret does not", (t) => {
  const now = () => 5_000_000;
  const secret = new Uint8Array(32).fill(1);
  const a = new DpopNonces({ rotateSeconds: 60, secret, now });
  const b = new DpopNonces({ rotateSeconds: 60, secret: Uint8Array.from(secret), now });
  const c = new DpopNonces({ rotateSeconds: 60, secret: new Uint8Array(32).fill(2), now });
  const random = new DpopNonces({ rotateSeconds: 60, now });
  t.ok(b.isValid(a.current()));
  t.notOk(c.isValid(a.current()));
  t.notOk(random.isValid(a.current()), 'a random per-process secret is its own');
  t.end();
});

t.test('a nonce from the future, garbage and non-strings are refused', (t) => {
  let now = 7_000_000;
  const nonces = new DpopNonces({ rotateSeconds: 10, secret: new Uint8Array(32), now: () => now });
  now += 10;
  const next = nonces.current();
  now -= 10;
  t.notOk(nonces.isValid(next), 'a window not yet begun');
  for (const bad of [undefined, null, 42, '', 'x', nonces.current() + 'x', 'a'.repeat(10_000), {}]) {
    t.notOk(nonces.isValid(bad));
  }
  t.end();
});

t.test('configuration mistakes are refused', (t) => {
  t.throws(() => new DpopNonces({ rotateSeconds: 0 }), RangeError);
  t.throws(() => new DpopNonces({ rotateSeconds: 1.5 }), RangeError);
  t.throws(() => new DpopNonces({ rotateSeconds: 60, secret: new Uint8Array(16) }), RangeError);
  t.end();
});
