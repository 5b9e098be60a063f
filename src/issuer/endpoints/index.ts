/**
 * Every endpoint of the issuer: one module each, one line here (issue 6 adds authorize, PAR, userinfo
 * and its pages; issue 7 the backchannel authentication endpoint and the device page).
 */
import {
  authorizationEndpoint,
  consentEndpoint,
  loginEndpoint,
  pushedAuthorizationRequestEndpoint,
} from '../authorize/endpoints.js';
import { userinfoEndpoint } from '../authorize/userinfo.js';
import { cibaEndpoints } from '../ciba/endpoints.js';
import { discoveryEndpoints } from './discovery.js';
import type { Endpoint } from './endpoint.js';
import { introspectionEndpoint } from './introspection.js';
import { jwksEndpoint } from './jwks.js';
import { revocationEndpoint } from './revocation.js';
import { tokenEndpoint } from './token.js';

export const endpoints: readonly Endpoint[] = [
  tokenEndpoint,
  introspectionEndpoint,
  revocationEndpoint,
  jwksEndpoint,
  authorizationEndpoint,
  loginEndpoint,
  consentEndpoint,
  pushedAuthorizationRequestEndpoint,
  userinfoEndpoint,
  ...cibaEndpoints,
  ...discoveryEndpoints(() => endpoints),
];
