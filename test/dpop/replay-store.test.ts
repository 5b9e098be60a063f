import t from 'tap';
import { DpopReplayStoreFull, MemoryDpopReplayStore } from '../../src/dpop/index.js';

t.test('a key is a first use once until it expires', (t) => {
  let now = 1000;
  const store = new MemoryDpopReplayStore({ maxEntries: 100, now: () => now });
  t.equal(store.firstUse('a', 60), true);
  t.equal(store.firstUse('a', 60), false);
  t.equal(store.firstUse('b', 60), true);
  now += 59;
  t.equal(store.firstUse('a', 60), false, 'still remembered within its ttl');
  now += 1;
  t.equal(store.firstUse('a', 60), true, 'forgotten once expired');
  t.end();
});

t.test('bounded: expired entries are reclaimed; live ones fill it and then it fails closed', (t) => {
  let now = 1000;
  const store = new MemoryDpopReplayStore({ maxEntries: 3, now: () => now });
  t.equal(store.firstUse('a', 10), true);
  t.equal(store.firstUse('b', 10), true);
  t.equal(store.firstUse('c', 10), true);
  t.throws(() => store.firstUse('d', 10), DpopReplayStoreFull, 'never forgets a live entry to make room');
  t.equal(store.firstUse('a', 10), false, 'a live entry is still a replay');
  now += 10;
  t.equal(store.firstUse('d', 10), true, 'room again once entries expire');
  t.equal(store.size, 1);
  t.end();
});

t.test('many entries over time stay bounded by what is live', (t) => {
  let now = 0;
  const store = new MemoryDpopReplayStore({ maxEntries: 1000, now: () => now });
  let refused = 0;
  for (let i = 0; i < 100_000; i++) {
    now = i / 100; // 100 per second, ttl 2 s: about 200 live
    if (!store.firstUse(`k${i}`, 2)) refused++;
  }
  t.equal(refused, 0);
  t.ok(store.size <= 201, `size ${store.size}`);
  t.end();
});

t.test('configuration mistakes are refused', (t) => {
  t.throws(() => new MemoryDpopReplayStore({ maxEntries: 0 }), RangeError);
  t.end();
});
