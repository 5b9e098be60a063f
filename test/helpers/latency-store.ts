/**
 * A store that answers like one across a network: every call yields to the event loop for `delayMs`
 * before the operation runs and again before its answer arrives. Each operation stays atomic (it is the
 * wrapped store's), so a flow that is correct against a shared store stays correct here, and a flow
 * that reads, decides and writes back in separate calls loses races here as it would against Redis.
 */
import type { IssuerStorage } from '../../src/issuer/storage/store.js';

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function delayed<T extends object>(target: T, delayMs: number): T {
  return new Proxy(target, {
    get(obj, name, receiver) {
      const member: unknown = Reflect.get(obj, name, receiver);
      if (typeof member === 'function')
        return async (...args: unknown[]) => {
          await pause(delayMs);
          const result: unknown = await (member as (...a: unknown[]) => unknown).apply(obj, args);
          await pause(delayMs);
          return result;
        };
      if (typeof member === 'object' && member !== null) return delayed(member, delayMs);
      return member;
    },
  });
}

/** `storage` with `delayMs` of latency on each side of every operation (close() is not delayed). */
export function withLatency(storage: IssuerStorage, delayMs = 3): IssuerStorage {
  const wrapped = delayed(storage, delayMs);
  return new Proxy(wrapped, {
    get(obj, name, receiver) {
      if (name === 'close') return () => storage.close();
      return Reflect.get(obj, name, receiver) as unknown;
    },
  });
}
