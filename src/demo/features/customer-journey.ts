/**
 * The demo's customer journey: a relying party served next to the issuer (port base+7) that
 * runs the FAPI authorization code flow in the user's browser, then calls the bank through the gateway.
 * Its server starts before the issuer, because the issuer registers its redirect_uri.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DEV_JWT_CLIENT_KID, type DevPkiPaths } from '../../pki/dev-pki.js';
import {
  JOURNEY_USER,
  customerJourneyClient,
  startCustomerJourney,
  type CustomerJourney,
} from '../customer-journey.js';
import type { DemoFeature } from '../demo.js';

export const CUSTOMER_JOURNEY_PORT_OFFSET = 7;

interface Running {
  rp: CustomerJourney;
  /** Filled in by start(), once the issuer and the gateway listen. */
  urls: { issuer: string; gateway: string };
}

/** One journey per demo run (keyed by the run's PKI paths object). */
const runs = new WeakMap<DevPkiPaths, Running>();

function runOf(paths: DevPkiPaths): Running {
  const run = runs.get(paths);
  if (!run) throw new Error('the customer journey was not prepared');
  return run;
}

export const customerJourneyFeature: DemoFeature = {
  name: 'customer journey',
  async prepare({ paths: p, port }) {
    const urls = { issuer: '', gateway: '' };
    const rp = await startCustomerJourney({
      host: '127.0.0.1',
      port: port(CUSTOMER_JOURNEY_PORT_OFFSET),
      tls: { cert: readFileSync(p.issuerCert, 'utf8'), key: readFileSync(p.issuerKey, 'utf8') },
      ca: readFileSync(p.caCert, 'utf8'),
      issuer: () => urls.issuer,
      apiBaseUrl: () => urls.gateway,
      signingKey: createPrivateKey(readFileSync(p.jwtSigningKey)),
      kid: DEV_JWT_CLIENT_KID,
      clientCert: { cert: readFileSync(p.jwtCert, 'utf8'), key: readFileSync(p.jwtKey, 'utf8') },
    });
    runs.set(p, { rp, urls });
    return () => rp.close();
  },
  issuerClients: (p) => [
    customerJourneyClient({ redirectUri: runOf(p).rp.redirectUri, jwksFile: p.jwtJwks }),
  ],
  issuerConfig: () => ({ users: [JOURNEY_USER] }),
  start({ paths, issuer, gateway }) {
    const run = runOf(paths);
    run.urls.issuer = issuer.url;
    run.urls.gateway = `https://localhost:${gateway.listenPort}`;
    return Promise.resolve({
      sections: [],
      links: [
        {
          name: 'customer journey',
          url: run.rp.url,
          note: `open in a browser, press Start, sign in as ${JOURNEY_USER.username} / ${JOURNEY_USER.password}, Approve`,
        },
      ],
    });
  },
};
