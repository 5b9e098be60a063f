/**
 * The CIBA flow, composed from the pure rules (authentication-request, pending-request), the store and
 * the notification sender. The HTTP edges (backchannel endpoint, CIBA grant, device page) call into this
 * and only translate values to HTTP. The parts the core issuer owns (client authentication, token minting,
 * signing keys) come in through the ports below.
 */
import type { Logger } from 'pino';
import type { ClientConfig } from '../config.js';
import type { TokenResponse } from '../grants/grant.js';
import {
  checkRequestObjectClaims,
  parseAuthenticationParameters,
  selectRequestSource,
  type CibaClientPolicy,
  type DeliveryMode,
} from './authentication-request.js';
import { authenticationError, fail, limitError, ok, tokenError, type Result } from './errors.js';
import type { AuthenticationErrorCode, CibaError, TokenErrorCode } from './errors.js';
import { userOfHint, type CibaUser, type CibaUserDirectory } from './hints.js';
import { newAuthReqId } from './identifiers.js';
import type { CibaMetrics } from './metrics.js';
import type { NotificationSender } from './notification.js';
import { type AttemptReport } from './notification.js';
import {
  applyDecision,
  currentStatus,
  evaluatePoll,
  markPushed,
  recordNotificationAttempt,
  type CibaRequestRecord,
  type Decision,
} from './pending-request.js';
import { verifyRequestObject, type KeyLookup } from './request-object.js';
import { RETENTION_AFTER_EXPIRY_SECONDS, updateRequest, type CibaRequestStore } from './store.js';
import { deviceHandle, type DeviceNotice, type DeviceRequestView } from './device-page.js';
import { secretsEqual } from '../pages/index.js';
import type { CounterStore } from '../storage/store.js';
import { ABUSE_LIMIT_DEFAULTS } from '../defaults.js';
import type { SignInLimiter } from '../users/sign-in-limits.js';

/** Counters of this process only, for a service built without the issuer's store. */
function processCounters(nowMs: () => number): CounterStore {
  const counts = new Map<string, { n: number; until: number }>();
  return {
    increment(namespace, id, expiresAtMs) {
      const key = `${namespace}:${id}`;
      const e = counts.get(key);
      const next = e && e.until > nowMs() ? { n: e.n + 1, until: e.until } : { n: 1, until: expiresAtMs };
      counts.set(key, next);
      return Promise.resolve(next.n);
    },
  };
}

export interface CibaGrant {
  client: ClientConfig;
  user: CibaUser;
  scopes: string[];
  /** x5t#S256 the access token is bound to (RFC 8705 §3), if the client presented a certificate. */
  certificateThumbprint: string | undefined;
  /** RFC 9449: thumbprint of the DPoP proof key at the token endpoint (poll/ping), if any. */
  dpopJkt?: string;
  authReqId: string;
  authTime: number | undefined;
  mode: DeliveryMode;
}

/** Port to the core issuer's token minting (access token, refresh token, ID token). */
export interface CibaTokenIssuer {
  /** Mints the tokens of one approved request; `grantId` names them all for revocation. */
  issue(grant: CibaGrant): Promise<{ response: TokenResponse; grantId: string }>;
  /** Revokes every token of a grant (push tokens that could not be delivered). */
  revokeGrant(grantId: string): Promise<void>;
}

/** A client as the CIBA endpoints need it: its configuration and its request-object keys. */
/** A ping or push delivery held by a queue: the decided request, and for push the grant last minted. */
export interface QueuedNotification {
  record: CibaRequestRecord;
  /**
   * Push: the grant whose tokens an earlier attempt minted. A replica that does not hold those tokens
   * (the minting one died) revokes that grant and mints new ones: tokens never delivered never stay usable.
   */
  grantId?: string;
}

/** Port to a durable delivery queue; one job per auth_req_id, never processed twice at once. */
export interface NotificationQueuePort {
  enqueue(job: QueuedNotification): Promise<void>;
  close(): Promise<void>;
}

export interface CibaClient {
  config: ClientConfig;
  keys: KeyLookup | undefined;
}

export interface CibaServiceOptions {
  issuer: string;
  expiresInSeconds: number;
  intervalSeconds: number;
  clockSkewSeconds: number;
  signingAlgorithms: readonly string[];
  store: CibaRequestStore;
  sender: NotificationSender;
  tokens: CibaTokenIssuer;
  users: CibaUserDirectory;
  clients: (clientId: string) => Promise<ClientConfig | undefined>;
  issuerKeys: KeyLookup;
  metrics: CibaMetrics;
  logger: Logger;
  /** Atomic counters shared by every replica (the rate limit and the per-client cap); default: this process. */
  counters?: CounterStore;
  /** Default: `ABUSE_LIMIT_DEFAULTS`. */
  limits?: CibaLimits;
  /** Guess limits of user_codes, shared with the sign-in pages' (none without it). */
  guessLimits?: SignInLimiter;
  /**
   * A durable delivery queue (Redis, with several replicas): decided requests are delivered from it by
   * whichever replica is alive, on the same schedule. Without it deliveries run in this process.
   */
  queue?: NotificationQueuePort;
  /** Unix seconds (tests move time). */
  now?: () => number;
  /** Unix milliseconds, for poll rate limiting (defaults to `now()` x 1000). */
  nowMs?: () => number;
}

/** Caps against push bombing (`ciba.limits`). */
export interface CibaLimits {
  pendingPerUser: number;
  pendingPerClient: number;
  requestsPerClientPerMinute: number;
}

export interface AuthenticationResponse {
  auth_req_id: string;
  expires_in: number;
  interval?: number;
}

export function clientPolicy(c: ClientConfig): CibaClientPolicy {
  return {
    clientId: c.clientId,
    cibaProfile: c.cibaProfile,
    deliveryMode: c.backchannelTokenDeliveryMode ?? 'poll',
    ...(c.backchannelAuthenticationRequestSigningAlg !== undefined && {
      requestSigningAlg: c.backchannelAuthenticationRequestSigningAlg,
    }),
    userCodeParameter: c.backchannelUserCodeParameter,
    scopes: c.scopes,
  };
}

export const CIBA_GRANT_TYPE = 'urn:openid:params:grant-type:ciba';

export class CibaService {
  readonly #o: CibaServiceOptions;
  readonly #now: () => number;
  readonly #nowMs: () => number;
  readonly #deliveries = new Set<Promise<void>>();
  /** Push tokens this process minted for a queued delivery, kept for its retries (never stored). */
  readonly #minted = new Map<string, { response: TokenResponse; grantId: string; expiresAt: number }>();
  readonly #counters: CounterStore;
  readonly #limits: CibaLimits;

  constructor(options: CibaServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
    const now = this.#now;
    this.#nowMs = options.nowMs ?? (options.now ? () => now() * 1000 : Date.now);
    this.#counters = options.counters ?? processCounters(this.#nowMs);
    this.#limits = options.limits ?? {
      pendingPerUser: ABUSE_LIMIT_DEFAULTS.cibaPendingPerUser,
      pendingPerClient: ABUSE_LIMIT_DEFAULTS.cibaPendingPerClient,
      requestsPerClientPerMinute: ABUSE_LIMIT_DEFAULTS.cibaRequestsPerClientPerMinute,
    };
  }

  /** The backchannel authentication endpoint, after client authentication (CIBA Core §7). */
  async startAuthentication(
    client: CibaClient,
    form: Readonly<Record<string, string>>,
    certificateThumbprint: string | undefined,
  ): Promise<Result<AuthenticationResponse, CibaError<AuthenticationErrorCode>>> {
    const mode = client.config.backchannelTokenDeliveryMode ?? 'poll';
    const r = await this.#authenticate(client, form, certificateThumbprint);
    this.#o.metrics.requests.inc({ mode, outcome: r.ok ? 'accepted' : r.error.error });
    if (!r.ok)
      this.#o.logger.info(
        { clientId: client.config.clientId, error: r.error.error, description: r.error.description },
        'CIBA authentication request refused',
      );
    return r;
  }

  async #authenticate(
    client: CibaClient,
    form: Readonly<Record<string, string>>,
    certificateThumbprint: string | undefined,
  ): Promise<Result<AuthenticationResponse, CibaError<AuthenticationErrorCode>>> {
    const c = client.config;
    if (!c.grantTypes.includes(CIBA_GRANT_TYPE) || c.backchannelTokenDeliveryMode === undefined)
      return fail(authenticationError('unauthorized_client', 'this client is not registered for CIBA'));
    const limited = await this.#clientRate(c.clientId);
    if (limited) return fail(limited);
    const policy = clientPolicy(c);
    const now = this.#now();
    const limits = {
      issuer: this.#o.issuer,
      expiresInSeconds: this.#o.expiresInSeconds,
      clockSkewSeconds: this.#o.clockSkewSeconds,
    };
    const source = selectRequestSource(form, policy);
    if (!source.ok) return source;
    let params: Record<string, unknown>;
    if (source.value.kind === 'signed') {
      const algs = policy.requestSigningAlg ? [policy.requestSigningAlg] : this.#o.signingAlgorithms;
      const verified = await verifyRequestObject(source.value.jwt, client.keys, algs);
      if (!verified.ok) return verified;
      const claims = checkRequestObjectClaims(verified.value, policy, limits, now);
      if (!claims.ok) return claims;
      // CIBA §7.1.1 jti: a signed request is accepted once (replay of a captured request is refused).
      const fresh = await this.#o.store.claimOnce(
        `request-jti:${c.clientId}:${String(verified.value.jti)}`,
        Number(verified.value.exp) + this.#o.clockSkewSeconds,
      );
      if (!fresh)
        return fail(authenticationError('invalid_request', 'request object jti has already been used'));
      params = claims.value;
    } else {
      params = source.value.params;
    }
    const parsed = parseAuthenticationParameters(params, policy, limits);
    if (!parsed.ok) return parsed;
    const request = parsed.value;
    const user = await userOfHint(request.hint, {
      issuer: this.#o.issuer,
      clientId: c.clientId,
      clockSkewSeconds: this.#o.clockSkewSeconds,
      now,
      algorithms: policy.requestSigningAlg ? [policy.requestSigningAlg] : this.#o.signingAlgorithms,
      clientKeys: client.keys,
      issuerKeys: this.#o.issuerKeys,
      users: this.#o.users,
    });
    if (!user.ok) return user;
    if (policy.userCodeParameter && user.value.userCode !== undefined) {
      if (request.userCode === undefined)
        return fail(authenticationError('missing_user_code', 'user_code is required for this user'));
      // Guessed like a password (NIST SP 800-63B §5.2.2): counted per user and per client before it is
      // compared, and not compared at all while a limit waits.
      const limits = this.#o.guessLimits;
      const guess = await limits?.admit('user_code', user.value.username, `client:${c.clientId}`);
      if (guess && !guess.admitted)
        return fail(
          limitError(
            'ciba_user_code_limited',
            'too many wrong user_codes; retry later',
            guess.retryAfterSeconds,
          ),
        );
      if (!secretsEqual(request.userCode, user.value.userCode))
        return fail(authenticationError('invalid_user_code', 'user_code is not correct'));
      if (guess) await limits?.succeeded(guess);
    }
    const capped = await this.#pendingCap(c.clientId, user.value.sub, now);
    if (capped) return fail(capped);
    const record: CibaRequestRecord = {
      authReqId: newAuthReqId(),
      clientId: c.clientId,
      subject: user.value.sub,
      scopes: request.scopes,
      ...(request.bindingMessage !== undefined && { bindingMessage: request.bindingMessage }),
      ...(request.acrValues !== undefined && { acrValues: request.acrValues }),
      deliveryMode: policy.deliveryMode,
      ...(request.clientNotificationToken !== undefined && {
        clientNotificationToken: request.clientNotificationToken,
      }),
      ...(certificateThumbprint !== undefined && { certificateThumbprint }),
      createdAt: now,
      expiresAt: now + request.expiresIn,
      interval: this.#o.intervalSeconds,
      status: 'pending',
      version: 1,
    };
    if (!(await this.#o.store.insert(record, record.expiresAt + RETENTION_AFTER_EXPIRY_SECONDS)))
      throw new Error('auth_req_id collision (random source broken?)');
    this.#o.logger.info(
      { clientId: c.clientId, mode: record.deliveryMode, expiresIn: request.expiresIn },
      'CIBA authentication request accepted',
    );
    return ok({
      auth_req_id: record.authReqId,
      expires_in: request.expiresIn,
      // CIBA Core §7.3: interval is for clients that poll (poll, and ping clients may poll too).
      ...(record.deliveryMode !== 'push' && { interval: record.interval }),
    });
  }

  /**
   * A fixed one-minute window per client, counted before any other work: every request costs the client
   * one, so a flood is refused cheaply. RFC 6585 §4: 429 with Retry-After; `slow_down` is the code CIBA
   * and RFC 8628 §3.5 use for "send less often".
   */
  async #clientRate(clientId: string): Promise<CibaError<AuthenticationErrorCode> | undefined> {
    const nowMs = this.#nowMs();
    const window = Math.floor(nowMs / 60_000);
    const endMs = (window + 1) * 60_000;
    const n = await this.#counters.increment('ciba-client-rate', `${clientId}:${window}`, endMs);
    if (n <= this.#limits.requestsPerClientPerMinute) return undefined;
    this.#o.metrics.limited.inc({ limit: 'client_rate' });
    return limitError(
      'ciba_client_rate',
      'too many backchannel authentication requests; retry later',
      Math.max(1, Math.ceil((endMs - nowMs) / 1000)),
    );
  }

  /**
   * Push bombing (MFA fatigue): a user has at most `pendingPerUser` requests waiting on the device, and a
   * client starts at most `pendingPerClient` per request lifetime (a fixed window, so at most twice that
   * many are pending at once). CIBA Core §13 `access_denied`: the OpenID Provider denied the request.
   */
  async #pendingCap(
    clientId: string,
    subject: string,
    now: number,
  ): Promise<CibaError<AuthenticationErrorCode> | undefined> {
    const pending = (await this.#o.store.listBySubject(subject)).filter(
      (r) => currentStatus(r, now) === 'pending',
    ).length;
    if (pending >= this.#limits.pendingPerUser) {
      this.#o.metrics.limited.inc({ limit: 'user_pending' });
      return limitError('ciba_user_pending', 'this user has too many pending authentication requests');
    }
    const span = this.#o.expiresInSeconds;
    const window = Math.floor(now / span);
    const n = await this.#counters.increment(
      'ciba-client-pending',
      `${clientId}:${window}`,
      (window + 1) * span * 1000,
    );
    if (n <= this.#limits.pendingPerClient) return undefined;
    this.#o.metrics.limited.inc({ limit: 'client_pending' });
    return limitError('ciba_client_pending', 'this client has too many pending authentication requests');
  }

  /** The token endpoint, grant `urn:openid:params:grant-type:ciba` (CIBA Core §10.1, §11). */
  async redeem(
    client: ClientConfig,
    authReqId: string | undefined,
    certificateThumbprint: string | undefined,
    dpopJkt?: string,
  ): Promise<Result<TokenResponse, CibaError<TokenErrorCode>>> {
    const r = await this.#redeem(client, authReqId, certificateThumbprint, dpopJkt);
    this.#o.metrics.polls.inc({ outcome: r.ok ? 'issued' : r.error.error });
    return r;
  }

  async #redeem(
    client: ClientConfig,
    authReqId: string | undefined,
    certificateThumbprint: string | undefined,
    dpopJkt: string | undefined,
  ): Promise<Result<TokenResponse, CibaError<TokenErrorCode>>> {
    if (!client.grantTypes.includes(CIBA_GRANT_TYPE))
      return fail(tokenError('unauthorized_client', 'this client is not registered for the CIBA grant'));
    if (authReqId === undefined || authReqId === '')
      return fail(tokenError('invalid_request', 'auth_req_id is required'));
    const now = this.#now();
    const outcome = await updateRequest(this.#o.store, authReqId, (record) => {
      const o = evaluatePoll(record, client.clientId, now, this.#nowMs());
      return { result: { o, record }, ...('next' in o && o.next !== undefined && { next: o.next }) };
    });
    const { o, record } = outcome;
    switch (o.kind) {
      case 'invalid_grant':
      case 'unauthorized_client':
        return fail(tokenError(o.kind, o.description));
      case 'authorization_pending':
        return fail(tokenError('authorization_pending', 'the user has not yet decided'));
      case 'slow_down':
        return fail(tokenError('slow_down', `poll at most every ${o.next.interval} s`));
      case 'expired_token':
        return fail(
          tokenError('expired_token', 'auth_req_id has expired; start a new authentication request'),
        );
      case 'access_denied':
        return fail(tokenError('access_denied', 'the user denied the request'));
      case 'issue': {
        const user = await this.#o.users.bySubject(record!.subject);
        if (!user) return fail(tokenError('invalid_grant', 'the user no longer exists'));
        const { response } = await this.#o.tokens.issue({
          client,
          user,
          scopes: record!.scopes,
          certificateThumbprint,
          ...(dpopJkt !== undefined ? { dpopJkt } : {}),
          authReqId,
          authTime: record!.authTime,
          mode: record!.deliveryMode,
        });
        return ok(response);
      }
    }
  }

  /** The requests waiting for `subject` on the authentication device. */
  async pendingFor(subject: string): Promise<DeviceRequestView[]> {
    const now = this.#now();
    const pending = (await this.#o.store.listBySubject(subject)).filter(
      (r) => currentStatus(r, now) === 'pending',
    );
    return Promise.all(
      pending.map(async (r) => {
        const client = await this.#o.clients(r.clientId);
        return {
          handle: deviceHandle(r.authReqId),
          clientName: client?.clientName ?? r.clientId,
          scopes: r.scopes,
          ...(r.bindingMessage !== undefined && { bindingMessage: r.bindingMessage }),
          expiresInSeconds: Math.max(0, r.expiresAt - now),
        };
      }),
    );
  }

  /** The user's decision on the device page; starts the ping or push delivery (CIBA Core §10.2, §10.3). */
  async decide(subject: string, handle: string, decision: Decision, authTime: number): Promise<DeviceNotice> {
    const now = this.#now();
    const target = (await this.#o.store.listBySubject(subject)).find(
      (r) => deviceHandle(r.authReqId) === handle,
    );
    if (!target) return 'unavailable';
    const outcome = await updateRequest(this.#o.store, target.authReqId, (record) => {
      const d = applyDecision(record, subject, decision, authTime, now);
      return { result: d, ...(d.kind === 'decided' && { next: d.next }) };
    });
    if (outcome.kind === 'refused') return outcome.reason === 'expired' ? 'expired' : 'unavailable';
    this.#o.metrics.decisions.inc({ decision });
    this.#o.logger.info(
      { clientId: target.clientId, mode: target.deliveryMode, decision },
      'CIBA request decided on the authentication device',
    );
    const record = outcome.next;
    if (record.deliveryMode !== 'poll') {
      if (this.#o.queue) await this.#enqueue(this.#o.queue, record);
      else this.#track(record.deliveryMode === 'ping' ? this.#ping(record) : this.#push(record));
    }
    return decision === 'approve' ? 'approved' : 'denied';
  }

  async #enqueue(queue: NotificationQueuePort, record: CibaRequestRecord): Promise<void> {
    let job = record;
    if (record.deliveryMode === 'push' && record.status === 'approved') {
      const consumed = await this.#consumeForPush(record);
      if (!consumed) return;
      job = consumed;
    }
    try {
      await queue.enqueue({ record: job });
    } catch (err) {
      // The decision is taken: deliver from this process rather than not at all.
      this.#o.logger.warn(
        { clientId: record.clientId, err: err instanceof Error ? err.message : String(err) },
        'CIBA delivery queue unavailable: delivering from this process',
      );
      this.#track(record.deliveryMode === 'ping' ? this.#ping(record) : this.#push(record, job !== record));
    }
  }

  /**
   * One attempt of a queued delivery. Resolves `retry` when the queue should try again after its backoff
   * (1 s, 2 s, 4 s, ... as in this process), `done` when delivered or abandoned at expiry.
   */
  async runQueuedAttempt(
    job: QueuedNotification,
    attempt: number,
    rememberGrant: (grantId: string) => Promise<void>,
  ): Promise<'done' | 'retry'> {
    const { record } = job;
    const mode = record.deliveryMode === 'push' ? 'push' : 'ping';
    // Requests another replica finished are never finished here: forget them once expired.
    const nowSeconds = this.#now();
    for (const [id, m] of this.#minted) if (m.expiresAt < nowSeconds) this.#minted.delete(id);
    const target = await this.#target(record);
    if (!target) {
      if (job.grantId !== undefined) await this.#revokeUndelivered(record, job.grantId);
      return 'done';
    }
    let body: Record<string, unknown> = { auth_req_id: record.authReqId };
    let grantId: string | undefined;
    if (mode === 'push') {
      const client = await this.#o.clients(record.clientId);
      const user = await this.#o.users.bySubject(record.subject);
      if (record.status === 'denied' || !client || !user) body = pushDenied(record);
      else {
        // The job's grant is the one current for the request: tokens this process minted for an earlier
        // attempt were revoked if another replica has taken an attempt since, and must not be sent.
        let minted = this.#minted.get(record.authReqId);
        if (!minted || minted.grantId !== job.grantId) {
          if (job.grantId !== undefined) await this.#o.tokens.revokeGrant(job.grantId);
          minted = {
            ...(await this.#o.tokens.issue(pushGrant(record, client, user))),
            expiresAt: record.expiresAt,
          };
          this.#minted.set(record.authReqId, minted);
          await rememberGrant(minted.grantId);
        }
        grantId = minted.grantId;
        body = { auth_req_id: record.authReqId, ...minted.response };
      }
    }
    const deadline = record.expiresAt * 1000;
    const error = await this.#o.sender.attemptOnce({
      mode,
      url: target.url,
      bearer: target.bearer,
      body,
      deadline,
    });
    const delivered = error === undefined;
    const shuttingDown = error === 'issuer shutting down';
    const abandoned =
      !delivered && !shuttingDown && this.#nowMs() + this.#o.sender.retryDelay(attempt) >= deadline;
    // A replica shutting down leaves the attempt to the others (the job stays queued).
    if (!shuttingDown)
      await this.#report(record, { attempt, delivered, abandoned, ...(error !== undefined && { error }) });
    if (delivered || abandoned) this.#minted.delete(record.authReqId);
    if (abandoned && grantId !== undefined) await this.#revokeUndelivered(record, grantId);
    return delivered || abandoned ? 'done' : 'retry';
  }

  async #revokeUndelivered(record: CibaRequestRecord, grantId: string): Promise<void> {
    // Undelivered tokens must not stay usable: nobody legitimate holds them.
    await this.#o.tokens.revokeGrant(grantId);
    this.#o.logger.warn({ clientId: record.clientId }, 'undelivered CIBA push tokens revoked');
  }

  /** Consume before minting: whatever happens next, this auth_req_id never yields tokens twice. */
  async #consumeForPush(record: CibaRequestRecord): Promise<CibaRequestRecord | undefined> {
    return updateRequest(this.#o.store, record.authReqId, (r) =>
      r && r.status === 'approved' ? { result: markPushed(r), next: markPushed(r) } : { result: undefined },
    );
  }

  #track(p: Promise<void>): void {
    const tracked = p.catch((e: unknown) =>
      this.#o.logger.error({ err: e }, 'CIBA notification failed unexpectedly'),
    );
    this.#deliveries.add(tracked);
    void tracked.finally(() => this.#deliveries.delete(tracked));
  }

  async #ping(record: CibaRequestRecord): Promise<void> {
    await this.#deliver(record, { auth_req_id: record.authReqId });
  }

  async #push(record: CibaRequestRecord, alreadyConsumed = false): Promise<void> {
    const client = await this.#o.clients(record.clientId);
    const user = await this.#o.users.bySubject(record.subject);
    if (record.status === 'denied' || !client || !user) {
      await this.#deliver(record, pushDenied(record));
      return;
    }
    if (!alreadyConsumed && !(await this.#consumeForPush(record))) return;
    const { response, grantId } = await this.#o.tokens.issue(pushGrant(record, client, user));
    const delivered = await this.#deliver(record, { auth_req_id: record.authReqId, ...response });
    if (!delivered) await this.#revokeUndelivered(record, grantId);
  }

  /** The client's notification endpoint and bearer; undefined (counted, logged) when there is none. */
  async #target(record: CibaRequestRecord): Promise<{ url: string; bearer: string } | undefined> {
    const client = await this.#o.clients(record.clientId);
    const url = client?.backchannelClientNotificationEndpoint;
    if (url === undefined || record.clientNotificationToken === undefined) {
      const mode = record.deliveryMode === 'push' ? 'push' : 'ping';
      this.#o.metrics.notifications.inc({ mode, result: 'abandoned' });
      this.#o.logger.error(
        { clientId: record.clientId, mode },
        'CIBA notification impossible: no endpoint or client_notification_token',
      );
      return undefined;
    }
    return { url, bearer: record.clientNotificationToken };
  }

  /** Counts, logs and records one attempt on the request. */
  async #report(record: CibaRequestRecord, report: AttemptReport): Promise<void> {
    const mode = record.deliveryMode === 'push' ? 'push' : 'ping';
    const log = { clientId: record.clientId, mode };
    const result = report.delivered ? 'delivered' : report.abandoned ? 'abandoned' : 'failed';
    this.#o.metrics.notifications.inc({ mode, result });
    if (report.delivered)
      this.#o.logger.info({ ...log, attempt: report.attempt }, 'CIBA notification delivered');
    else
      this.#o.logger[report.abandoned ? 'error' : 'warn'](
        { ...log, attempt: report.attempt, error: report.error },
        report.abandoned
          ? 'CIBA notification abandoned: the request expired before the client accepted it'
          : 'CIBA notification failed; will retry',
      );
    await updateRequest(this.#o.store, record.authReqId, (r) =>
      r ? { result: undefined, next: recordNotificationAttempt(r, report) } : { result: undefined },
    );
  }

  async #deliver(record: CibaRequestRecord, body: Record<string, unknown>): Promise<boolean> {
    const target = await this.#target(record);
    if (!target) return false;
    const mode = record.deliveryMode === 'push' ? 'push' : 'ping';
    const last = await this.#o.sender.deliver(
      { mode, url: target.url, bearer: target.bearer, body, deadline: record.expiresAt * 1000 },
      (report: AttemptReport) => this.#report(record, report),
    );
    return last.delivered;
  }

  /** Resolves when every notification started so far has been delivered or abandoned. */
  async settled(): Promise<void> {
    while (this.#deliveries.size > 0) await Promise.allSettled([...this.#deliveries]);
  }

  /**
   * Waits for running deliveries after the sender was closed: in-process ones end as abandoned; queued
   * ones stay queued for the other replicas.
   */
  async close(): Promise<void> {
    await this.#o.sender.close();
    await this.#o.queue?.close();
    await Promise.allSettled([...this.#deliveries]);
  }
}

/** CIBA Core §12: the push error payload. */
function pushDenied(record: CibaRequestRecord): Record<string, unknown> {
  return {
    auth_req_id: record.authReqId,
    error: 'access_denied',
    error_description: 'the user denied the request',
  };
}

function pushGrant(record: CibaRequestRecord, client: ClientConfig, user: CibaUser): CibaGrant {
  return {
    client,
    user,
    scopes: record.scopes,
    // CIBA §10.3: push tokens never pass the token endpoint; they are bound to the certificate of the
    // backchannel authentication request (if the client presented one there).
    certificateThumbprint: record.certificateThumbprint,
    authReqId: record.authReqId,
    authTime: record.authTime,
    mode: 'push',
  };
}
