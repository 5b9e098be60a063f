/** The production CIBA request store over a memory storage whose clock a test drives (unix seconds). */
import type { Test } from 'tap';
import { stateCibaRequestStore } from '../../src/issuer/ciba/state-store.js';
import type { CibaRequestStore } from '../../src/issuer/ciba/store.js';
import { createMemoryStorage } from '../../src/issuer/storage/memory-store.js';

export function memoryCibaStore(t: Test, nowSeconds: () => number): CibaRequestStore {
  const storage = createMemoryStorage({ clients: [], clock: () => nowSeconds() * 1000 });
  t.teardown(() => storage.close());
  return stateCibaRequestStore(storage.state, storage.replay);
}
