/**
 * The authorization code flow's HTTP endpoints, registered in endpoints/index.ts: PAR (client
 * authenticated, JSON), the authorization endpoint and its login and consent form posts (browser,
 * HTML). Browser endpoints never answer with JSON: every failure, even an unexpected one, is a page.
 */
import type { Endpoint } from '../endpoints/endpoint.js';
import { clientAuthDiscovery } from '../endpoints/client-auth-discovery.js';
import { OAuthError } from '../errors.js';
import { jsonReply, type IssuerRequest, type Reply } from '../http.js';
import type { PageResponse } from '../pages/index.js';
import { answerAsPage } from '../steps/render-error.js';
import type { IssuerRuntime } from '../runtime.js';
import { authenticateClient } from '../steps/authenticate-client.js';
import { authorizationServerProof, dpopNonceHeaders } from '../steps/dpop-proof.js';
import { readForm, type FormParams } from '../steps/form-body.js';
import { authorizationContextOf, AUTHORIZATION_PATHS } from './authorization-context.js';
import { authorize } from './authorization-endpoint.js';
import { authorizationDiscovery } from './discovery.js';
import { submitConsent, submitLogin } from './interaction.js';
import { pushAuthorizationRequest } from './pushed-authorization-endpoint.js';
import { sourceAddress } from '../users/sign-in-limits.js';

export function formRecord(params: FormParams): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const name of params.names()) {
    const v = params.get(name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

function queryRecord(query: URLSearchParams): Record<string, string> | OAuthError {
  const out = Object.create(null) as Record<string, string>;
  for (const [name, value] of query) {
    // RFC 6749 §3.1: parameters must not be repeated.
    if (name in out)
      return new OAuthError('repeated_parameter', `parameter ${name.slice(0, 40)} is repeated`);
    if (value !== '') out[name] = value;
  }
  return out;
}

/** As for the query: a parameter sent empty counts as not sent (RFC 6749 §3.1). */
function withoutEmptyValues(params: Record<string, string>): Record<string, string> {
  for (const name of Object.keys(params)) if (params[name] === '') delete params[name];
  return params;
}

function asPage(runtime: IssuerRuntime, name: string, run: () => Promise<PageResponse>): Promise<Reply> {
  return answerAsPage(runtime, name, run, 'The sign-in service could not complete the request.');
}

export const pushedAuthorizationRequestEndpoint: Endpoint = {
  name: 'par',
  path: '/par',
  methods: ['POST'],
  metadataName: 'pushed_authorization_request_endpoint',
  mtlsAlias: true,
  discovery: () => clientAuthDiscovery('pushed_authorization_request_endpoint'),
  async respond(request, runtime) {
    const params = await readForm(request);
    // RFC 9449 §10.1: a DPoP proof on the PAR request binds the code to its key.
    const proof = await authorizationServerProof(request, runtime);
    const client = await authenticateClient(request, params, runtime);
    const answer = await pushAuthorizationRequest(
      authorizationContextOf(runtime),
      client.client,
      formRecord(params),
      proof?.jkt,
    );
    // A refusal goes to the one renderer (server.ts), counted by its reason like any other.
    if (answer instanceof OAuthError) throw answer;
    return jsonReply({ ...answer }, 201, dpopNonceHeaders(runtime));
  },
};

export const authorizationEndpoint: Endpoint = {
  name: 'authorize',
  path: AUTHORIZATION_PATHS.authorize,
  // OIDC Core §3.1.2.1: the authorization endpoint takes GET (query) and POST (form body) alike.
  methods: ['GET', 'POST'],
  metadataName: 'authorization_endpoint',
  discovery: authorizationDiscovery,
  respond(request, runtime) {
    return asPage(runtime, 'authorize', async () => {
      const params =
        request.method === 'POST'
          ? withoutEmptyValues(formRecord(await readForm(request, { limitBytes: 16 * 1024 })))
          : queryRecord(request.query);
      if (params instanceof OAuthError) throw params;
      return authorize(authorizationContextOf(runtime), params, cookieOf(request));
    });
  },
};

function cookieOf(request: IssuerRequest): string | undefined {
  const c = request.headers.cookie;
  return typeof c === 'string' ? c : undefined;
}

function interactionPost(name: 'login' | 'consent', path: string, submit: typeof submitLogin): Endpoint {
  return {
    name,
    path,
    methods: ['POST'],
    respond(request, runtime) {
      return asPage(runtime, name, async () => {
        const form = formRecord(await readForm(request, { limitBytes: 16 * 1024 }));
        return submit(authorizationContextOf(runtime), {
          form,
          cookie: cookieOf(request),
          headers: request.headers,
          source: sourceAddress(request.raw.socket.remoteAddress),
        });
      });
    },
  };
}

export const loginEndpoint = interactionPost('login', AUTHORIZATION_PATHS.login, submitLogin);
export const consentEndpoint = interactionPost('consent', AUTHORIZATION_PATHS.consent, submitConsent);
