// test:unit: pure functions over real keys and values; no sockets, processes or browsers.
import t from 'tap';
import { createMemoryStorage } from '../../../src/issuer/storage/memory-store.js';
import { withLatency } from '../../helpers/latency-store.js';
import { runStoreContract } from './store-contract.js';

function memoryStore(latencyMs?: number) {
  return () => {
    let now = 1_800_000_000_000;
    const storage = createMemoryStorage({ clients: [], clock: () => now });
    return Promise.resolve({
      storage: latencyMs === undefined ? storage : withLatency(storage, latencyMs),
      now: () => now,
      advance: (ms: number) => {
        now += ms;
        return Promise.resolve();
      },
      close: () => storage.close(),
    });
  };
}

t.test('memory store', (t) => {
  runStoreContract(t, memoryStore());
  t.end();
});

t.test('memory store behind 3 ms of latency per call', (t) => {
  runStoreContract(t, memoryStore(3));
  t.end();
});
