/**
 * The DPoP replay store shared by every gateway replica (RFC 9449 §11.1: a proof is accepted once, by
 * whichever replica sees it first). One round trip, atomic by itself: `SET key 1 NX PX ttl` succeeds only
 * for the first caller, and the key expires with the proof's acceptance window. When Redis cannot answer
 * the promise rejects, and the gateway refuses the proof (fail closed) instead of forwarding it.
 */
import type { RedisConnection } from '../redis/connection.js';
import type { DpopReplayStore } from './replay-store.js';

export class RedisDpopReplayStore implements DpopReplayStore {
  constructor(private readonly redis: RedisConnection) {}

  async firstUse(key: string, ttlSeconds: number): Promise<boolean> {
    const ttlMs = Math.max(1, Math.ceil(ttlSeconds * 1000));
    const reply = await this.redis.run('dpop.first_use', (client) =>
      client.set(this.redis.key('dpop-jti', key), '1', 'PX', ttlMs, 'NX'),
    );
    return reply === 'OK';
  }
}
