/**
 * Property-based tests of the DPoP proof verifier: whatever the input, it refuses with a DpopError and
 * nothing else (no other exception, no hang), and no change to a valid proof's text still verifies.
 */
import t from 'tap';
import fc from 'fast-check';
import { base64url } from 'jose';
import {
  DpopError,
  MemoryDpopReplayStore,
  verifyDpopProof,
  type DpopProofRequest,
} from '../../src/dpop/index.js';
import { createDpopKey, mintDpopProof } from '../helpers/dpop.js';

const policy = { algorithms: ['ES256', 'PS256', 'EdDSA'], iatWindowSeconds: 60 };
const NOW = Math.floor(Date.now() / 1000);
const request = (): DpopProofRequest => ({
  method: 'GET',
  htu: { origins: ['https://localhost'], path: '/accounts' },
  now: NOW,
  accessToken: 'the-token',
  nonce: { isValid: (n) => n === 'the-nonce' },
  replayStore: new MemoryDpopReplayStore({ maxEntries: 1000, now: () => NOW }),
});

async function outcome(proof: string): Promise<'verified' | 'refused' | Error> {
  try {
    await verifyDpopProof(proof, policy, request());
    return 'verified';
  } catch (err) {
    return err instanceof DpopError ? 'refused' : (err as Error);
  }
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const b64Segment = fc.string({ unit: fc.constantFrom(...B64URL), maxLength: 200 });
const jsonSegment = fc.jsonValue().map((v) => base64url.encode(JSON.stringify(v)));
const headerLike = fc
  .record(
    {
      typ: fc.oneof(fc.constant('dpop+jwt'), fc.string()),
      alg: fc.oneof(fc.constantFrom('ES256', 'PS256', 'EdDSA', 'none', 'HS256'), fc.string()),
      jwk: fc.oneof(
        fc.jsonValue(),
        fc.record({
          kty: fc.constantFrom('EC', 'RSA', 'OKP', 'oct'),
          crv: fc.string(),
          x: fc.string(),
          y: fc.string(),
          n: fc.string(),
          e: fc.string(),
        }),
      ),
      crit: fc.array(fc.string()),
      b64: fc.boolean(),
    },
    { requiredKeys: [] },
  )
  .map((h) => base64url.encode(JSON.stringify(h)));

t.test('no input throws anything but a DpopError, and nothing random verifies', async (t) => {
  const inputs = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.tuple(b64Segment, b64Segment, b64Segment).map((p) => p.join('.')),
    fc.tuple(fc.oneof(headerLike, jsonSegment), jsonSegment, b64Segment).map((p) => p.join('.')),
  );
  await fc.assert(
    fc.asyncProperty(inputs, async (input) => {
      const r = await outcome(input);
      if (r !== 'refused') throw r === 'verified' ? new Error('a random string verified') : r;
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 inputs refused with a DpopError');
});

t.test('no change to a valid proof verifies (one edit, any position)', async (t) => {
  for (const alg of policy.algorithms) {
    const key = await createDpopKey(alg);
    const proof = await mintDpopProof(key, { iat: NOW, accessToken: 'the-token', nonce: 'the-nonce' });
    t.equal(await outcome(proof), 'verified', `${alg}: the unchanged proof verifies`);
    const edit = fc.oneof(
      fc.record({
        kind: fc.constant('replace' as const),
        at: fc.nat(proof.length - 1),
        ch: fc.constantFrom(...B64URL, '.', '=', ' '),
      }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(proof.length - 1) }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(proof.length),
        ch: fc.constantFrom(...B64URL, '.'),
      }),
    );
    await fc.assert(
      fc.asyncProperty(edit, async (e) => {
        const mutated =
          e.kind === 'delete'
            ? proof.slice(0, e.at) + proof.slice(e.at + 1)
            : e.kind === 'insert'
              ? proof.slice(0, e.at) + e.ch + proof.slice(e.at)
              : proof.slice(0, e.at) + e.ch + proof.slice(e.at + 1);
        if (mutated === proof) return;
        const r = await outcome(mutated);
        if (r !== 'refused')
          throw r === 'verified' ? new Error(`an edited proof verified: ${JSON.stringify(e)}`) : r;
      }),
      { numRuns: 300 },
    );
    t.pass(`${alg}: 300 edited proofs refused`);
  }
});
