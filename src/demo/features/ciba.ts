/**
 * The demo's CIBA part: the client notification endpoint of the demo company (port base+6),
 * started before the issuer because the ping and push clients register its URL; the three CIBA clients,
 * the user alice and the `ciba` settings; and the printed walkthrough for poll, ping and push, whose
 * browser steps (approve on the device page) sit between the commands.
 */
import type { DevPkiPaths } from '../../pki/dev-pki.js';
import {
  CIBA_DEMO_USER,
  cibaDemoClients,
  cibaWalkthrough,
  renderCibaWalkthrough,
  startNotificationReceiver,
  type NotificationReceiver,
} from '../ciba-demo.js';
import type { DemoFeature } from '../demo.js';

export const CIBA_NOTIFICATION_PORT_OFFSET = 6;
const DEVICE_PATH = '/device';

/** One notification endpoint per demo run (keyed by the run's PKI paths object). */
const receivers = new WeakMap<DevPkiPaths, NotificationReceiver>();

function receiverOf(paths: DevPkiPaths): NotificationReceiver {
  const r = receivers.get(paths);
  if (!r) throw new Error('the CIBA demo was not prepared');
  return r;
}

export const cibaFeature: DemoFeature = {
  name: 'CIBA',
  async prepare({ paths, port }) {
    const receiver = await startNotificationReceiver({
      host: '127.0.0.1',
      port: port(CIBA_NOTIFICATION_PORT_OFFSET),
      certFile: paths.issuerCert,
      keyFile: paths.issuerKey,
    });
    receivers.set(paths, receiver);
    return () => receiver.close();
  },
  issuerClients: (paths) => cibaDemoClients(paths, receiverOf(paths).url),
  issuerConfig: (paths) => ({
    users: [CIBA_DEMO_USER],
    ciba: {
      expiresInSeconds: 300,
      intervalSeconds: 2,
      devicePath: DEVICE_PATH,
      notificationCa: paths.caCert,
    },
  }),
  start({ paths, issuer, gateway, shellPath }) {
    const receiver = receiverOf(paths);
    const sections = cibaWalkthrough({
      issuerUrl: issuer.url,
      mtlsUrl: issuer.mtlsUrl,
      gatewayUrl: `https://localhost:${gateway.listenPort}`,
      receiverUrl: receiver.url,
      devicePath: DEVICE_PATH,
      rel: shellPath,
      paths,
    });
    return Promise.resolve({
      sections: [],
      links: [
        {
          name: 'CIBA device page',
          url: `${issuer.url}${DEVICE_PATH}`,
          note: `the customer's phone: sign in as ${CIBA_DEMO_USER.username} / ${CIBA_DEMO_USER.password}`,
        },
        {
          name: 'CIBA client',
          url: `${receiver.url}/notifications`,
          note: 'what the demo client notification endpoint received (ping and push)',
        },
      ],
      text: renderCibaWalkthrough(sections),
    });
  },
};
