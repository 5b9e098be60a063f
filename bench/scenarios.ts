/**
 * The scenarios: what load each one puts on which targets. (a)-(d) and TLS 1.2 are measured against the
 * peers; (e) (DPoP, a new proof per request) and (f) (opaque tokens by introspection) are work no peer
 * here can do, so they measure fapi-gateway alone. Scenarios whose requests cannot be reused (DPoP proofs)
 * prepare them just before each round, outside the measured window.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createSigner } from 'fast-jwt';
import { KeyObject } from 'node:crypto';
import { FAPI_TLS12_CIPHERS } from './configs.js';
import { FORWARDER_MODES } from './forwarders.js';
import type { LoadSpec } from './load.js';
import { REDIS_SCENARIO, REDIS_TARGETS } from './report.js';
import type { TargetId } from './targets.js';
import { athOf, type DpopKey } from '../test/helpers/dpop.js';
import {
  assertionSigner,
  introspectionForm,
  INTROSPECTION_PATH,
  ISSUER_CLIENTS,
  tlsClientCredentialsForm,
  tokenToIntrospect,
  TOKEN_PATH,
  writeForms,
  type IssuerFixture,
} from './issuers.js';

export interface ScenarioDef {
  id: string;
  title: string;
  targets: TargetId[];
  spec(base: LoadSpec, round: number, target?: TargetId): LoadSpec;
  /** Skip the unmeasured warm-up load (it would use up what the scenario measures). */
  noWarmup?: boolean;
  /**
   * Requests made just before each run of the driver (warm-up or round), for the `expectedRps` the target
   * served last time: what the driver sends that way, each request once.
   */
  prepare?(spec: LoadSpec, expectedRps: number, target?: TargetId): Promise<Partial<LoadSpec>>;
  /** Left out of `--quick` runs. */
  fullOnly?: boolean;
  /**
   * The shortest warm-up of a full run: a server whose request path is long (the issuer's token endpoint)
   * needs more requests than the gateway before its JIT has compiled it.
   */
  minWarmupSeconds?: number;
}

/** Issuer processes spent up to twice their warm CPU per token in a first round after 1-3 s of warm-up. */
const ISSUER_WARMUP_SECONDS = 6;

export const PEERS: TargetId[] = ['nginx', 'haproxy', 'gateway', 'gateway-workers', 'gateway-compare'];

export interface ScenarioFixtures {
  /** JSON files of 10,000 JWT access tokens each: (b)'s rounds, its warm-up, then (b)'s first pass. */
  tokenSets: string[];
  /** JSON files of OPAQUE_TOKENS_PER_ROUND opaque tokens, known to the authorization server: (f)'s warm-up and rounds. */
  opaqueTokenSets: string[];
  dpop: DpopFixture;
  /** The issuer scenarios' clients and key (absent: no issuer scenarios). */
  issuer?: IssuerFixture;
}

export interface DpopFixture {
  key: DpopKey;
  /** A JWT access token bound to `key` (`cnf.jkt`). */
  token: string;
  /** Folder for the proof files. */
  dir: string;
}

/**
 * (f)'s distinct tokens per round: a thousand clients each reusing its token, so that a round shows both
 * the first use of each (an introspection call) and the cached answers of later uses.
 */
export const OPAQUE_TOKENS_PER_ROUND = 1000;

/** Distinct opaque access tokens: 256 random bits each, base64url, as an authorization server issues. */
export function opaqueTokens(count: number): string[] {
  return Array.from({ length: count }, () => randomBytes(32).toString('base64url'));
}

/**
 * A signer for the proofs of one DPoP key. fast-jwt signs synchronously, about three times faster than
 * jose's asynchronous WebCrypto signing, which matters when tens of thousands are made before a round.
 */
function proofSigner(key: DpopKey) {
  const sign = createSigner({
    key: KeyObject.from(key.privateKey).export({ format: 'pem', type: 'pkcs8' }).toString(),
    algorithm: 'ES256',
    header: { alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk },
  });
  return (claims: Record<string, unknown>) => sign(claims);
}

/**
 * RFC 9449 §4.2 proofs for `count` GET requests to `url` with the fixture's token, each with its own jti and
 * an iat of now: they stay within the gateway's iat window for the round about to start.
 */
export function writeProofs(
  fixture: DpopFixture,
  sign: ReturnType<typeof proofSigner>,
  url: string,
  count: number,
): string {
  const iat = Math.floor(Date.now() / 1000);
  const ath = athOf(fixture.token);
  const proofs = Array.from({ length: count }, () =>
    sign({ jti: randomUUID(), htm: 'GET', htu: url, iat, ath }),
  );
  const file = path.join(fixture.dir, 'dpop-proofs.json');
  writeFileSync(file, JSON.stringify(proofs));
  return file;
}

/** Proofs are made for the rate the target served last time plus a margin; the first time, for this rate. */
const FIRST_DPOP_RATE = 8000;

export function scenarioDefinitions(fixtures: ScenarioFixtures): ScenarioDef[] {
  const { tokenSets, opaqueTokenSets, dpop } = fixtures;
  const signProof = proofSigner(dpop.key);
  return [
    ...baseScenarios(tokenSets, opaqueTokenSets, dpop, signProof),
    ...(fixtures.issuer ? issuerScenarios(fixtures.issuer) : []),
  ];
}

/** Assertions are made for the rate the issuer served last time plus a margin; the first time, this. */
const FIRST_ASSERTION_RATE = 4000;

/**
 * The issuer scenarios: fapi-gateway's issuer against node-oidc-provider, the same clients, key and
 * requests (bench/issuers.ts), over keep-alive mTLS, and the issuer on its Redis store. Every request is
 * a POST of a form.
 */
function issuerScenarios(f: IssuerFixture): ScenarioDef[] {
  const targets: TargetId[] = ['issuer', 'issuer-compare', 'oidc-provider'];
  const makeAssertions = assertionSigner(f);
  const prepareAssertions: ScenarioDef['prepare'] = (spec, expectedRps, target) => {
    const seconds = spec.durationSeconds + (spec.settleSeconds ?? 0);
    const rate = expectedRps > 0 ? expectedRps * 1.3 : FIRST_ASSERTION_RATE;
    const count = Math.min(spec.maxRequests, Math.ceil(rate * seconds) + spec.connections);
    return Promise.resolve({
      formsFile: writeForms(
        path.dirname(f.signingKeyFile),
        `assertions-${target ?? 'any'}.json`,
        makeAssertions(count),
      ),
    });
  };
  const introspection = (base: LoadSpec): LoadSpec => ({
    ...base,
    url: new URL(INTROSPECTION_PATH, base.url).toString(),
    token: undefined,
    tls: { cert: f.pki.gatewayClient.certFile, key: f.pki.gatewayClient.keyFile },
  });
  return [
    {
      id: 'i1',
      title: '(i1) client_credentials, tls_client_auth, cert-bound JWT access token',
      targets,
      minWarmupSeconds: ISSUER_WARMUP_SECONDS,
      spec: (base) => ({ ...base, token: undefined, form: tlsClientCredentialsForm() }),
    },
    {
      // A new assertion per request (each jti is accepted once), signed before the round starts.
      id: 'i2',
      title: '(i2) client_credentials, private_key_jwt (a new assertion per request), cert-bound JWT',
      targets,
      minWarmupSeconds: ISSUER_WARMUP_SECONDS,
      spec: (base) => ({ ...base, token: undefined }),
      prepare: prepareAssertions,
    },
    {
      // (i2) on the issuer's own stores: each assertion's jti is recorded in memory, in Redis, or in one
      // Redis shared by two replicas that the connections are spread over.
      id: REDIS_SCENARIO,
      title:
        '(i2) private_key_jwt client_credentials on the memory store, the Redis store, and 2 replicas sharing Redis',
      targets: [...REDIS_TARGETS],
      // Each of two replicas sees half the warm-up's tokens: twice the warm-up gives every process of every
      // target at least as many warm-up requests as the single process gets with the issuer scenarios' own.
      minWarmupSeconds: 2 * ISSUER_WARMUP_SECONDS,
      fullOnly: true,
      spec: (base) => ({ ...base, token: undefined }),
      prepare: prepareAssertions,
    },
    {
      // node-oidc-provider refuses to introspect JWTs (unsupported_token_type): it introspects its opaque
      // token, fapi-gateway's issuer verifies its JWT and looks up its revocation state.
      id: 'i3',
      title:
        '(i3) introspection by a resource server (tls_client_auth) of a cert-bound access token: JWT (node-oidc-provider: opaque, it does not introspect JWTs)',
      targets,
      minWarmupSeconds: ISSUER_WARMUP_SECONDS,
      spec: introspection,
      prepare: async (spec, _rps, target) => ({
        form: introspectionForm(
          await tokenToIntrospect(
            new URL(TOKEN_PATH, spec.url).toString(),
            target === 'oidc-provider' ? ISSUER_CLIENTS.opaque : ISSUER_CLIENTS.tls,
            f,
          ),
        ),
      }),
    },
    {
      id: 'i3-opaque',
      title: '(i3) the same with opaque access tokens on both',
      targets,
      minWarmupSeconds: ISSUER_WARMUP_SECONDS,
      fullOnly: true,
      spec: introspection,
      prepare: async (spec) => ({
        form: introspectionForm(
          await tokenToIntrospect(new URL(TOKEN_PATH, spec.url).toString(), ISSUER_CLIENTS.opaque, f),
        ),
      }),
    },
  ];
}

function baseScenarios(
  tokenSets: string[],
  opaqueTokenSets: string[],
  dpop: DpopFixture,
  signProof: ReturnType<typeof proofSigner>,
): ScenarioDef[] {
  return [
    {
      id: 'a',
      title: '(a) one token, keep-alive, TLS 1.3',
      targets: ['direct', ...PEERS, ...FORWARDER_MODES.map((m): TargetId => `forward-${m}`)],
      spec: (base) => base,
    },
    {
      id: 'b',
      title: '(b) 10,000 distinct tokens round-robin',
      targets: PEERS,
      spec: (base, round) => ({ ...base, token: undefined, tokensFile: tokenSets[round % tokenSets.length] }),
    },
    {
      // Every request of a round presents a token the gateway has never seen: its verification cache
      // cannot help, so this is the cost of signature verification itself, against HAProxy's.
      id: 'b-cold',
      title: '(b) first pass only: 10,000 requests, each with a token never seen before',
      targets: ['haproxy', 'gateway', 'gateway-compare'],
      noWarmup: true,
      spec: (base, round) => ({
        ...base,
        token: undefined,
        tokensFile: tokenSets[(tokenSets.length + 1) / 2 + round],
        maxRequests: 10_000,
        durationSeconds: 120,
        // Connections and TLS handshakes are set up in the first half second (whose requests present
        // new tokens too): the window measures verification, not start-up.
        settleSeconds: 0.5,
      }),
    },
    {
      id: 'c',
      title: '(c) new TLS connection per request',
      targets: PEERS,
      spec: (base) => ({ ...base, reconnectEachRequest: true, settleSeconds: 0 }),
    },
    {
      id: 'd',
      title: '(d) 64 KiB POST',
      targets: ['direct', ...PEERS],
      spec: (base) => ({ ...base, method: 'POST', bodyBytes: 64 * 1024 }),
    },
    {
      id: 'tls12',
      title: '(a) over TLS 1.2, ECDHE-RSA-AES128-GCM-SHA256',
      targets: PEERS,
      spec: (base) => ({
        ...base,
        tls: base.tls && { ...base.tls, maxVersion: 'TLSv1.2', ciphers: FAPI_TLS12_CIPHERS.split(':')[0]! },
      }),
    },
    {
      // One DPoP-bound token (its verification cached as in (a)); every request carries a proof the
      // gateway has never seen: signature, claims, ath, jkt and the replay store, each time.
      id: 'e',
      title: '(e) DPoP-bound token, a new proof per request',
      targets: ['gateway-dpop'],
      spec: (base) => ({ ...base, token: dpop.token, scheme: 'DPoP' }),
      prepare: (spec, expectedRps) => {
        const seconds = spec.durationSeconds + (spec.settleSeconds ?? 0);
        const rate = expectedRps > 0 ? expectedRps * 1.3 : FIRST_DPOP_RATE;
        const count = Math.min(spec.maxRequests, Math.ceil(rate * seconds) + spec.connections);
        return Promise.resolve({ proofsFile: writeProofs(dpop, signProof, spec.url, count) });
      },
    },
    {
      // Opaque tokens round-robin: each round's set is new to the gateway, so the first use of each token
      // is an introspection call and later passes of the round-robin are answered from its cache.
      id: 'f',
      title: `(f) ${OPAQUE_TOKENS_PER_ROUND.toLocaleString('en-US')} distinct opaque tokens round-robin, introspected`,
      targets: ['gateway-introspection'],
      spec: (base, round) => ({
        ...base,
        token: undefined,
        tokensFile: opaqueTokenSets[(round + 1) % opaqueTokenSets.length],
      }),
    },
  ];
}

/** The scenarios a connection-count sweep repeats: the gateway against its peers, and DPoP. */
export const SWEPT_SCENARIOS: readonly string[] = ['a', 'b', 'b-cold', 'e'];

/**
 * The swept scenarios again for each further connection count, as `<id>@<count>`: the same load with more
 * or fewer keep-alive connections (clients open 10 or 500), measured in the same run.
 */
export function withConnectionCounts(
  scenariosFor: (countIndex: number) => ScenarioDef[],
  counts: readonly number[],
): ScenarioDef[] {
  return counts.flatMap((connections, i) =>
    i === 0
      ? scenariosFor(0)
      : scenariosFor(i)
          .filter((s) => SWEPT_SCENARIOS.includes(s.id))
          .map((s): ScenarioDef => ({
            ...s,
            id: `${s.id}@${connections}`,
            title: `${s.title}, ${connections} connections`,
            spec: (base, round) => s.spec({ ...base, connections }, round),
          })),
  );
}
