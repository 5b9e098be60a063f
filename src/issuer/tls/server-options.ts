/**
 * TLS settings of the issuer's listeners. FAPI 1 Advanced §8.5 / FAPI 2 Security Profile §5.2.1: TLS 1.2
 * or later; under TLS 1.2 only the four listed suites (forward secrecy + AEAD). TLS 1.3 suites are all
 * acceptable. The ECDSA variants are added for EC server keys (BCP 195, which FAPI 2 defers to).
 */
import { readFileSync } from 'node:fs';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { IssuerConfig } from '../config.js';

export const FAPI_TLS12_CIPHERS = [
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
];

export function issuerTlsOptions(
  tls: IssuerConfig['tls'],
  requestClientCertificate: boolean,
): TlsOptions & SecureContextOptions {
  return {
    cert: readFileSync(tls.cert),
    key: readFileSync(tls.key),
    minVersion: 'TLSv1.2',
    ciphers: FAPI_TLS12_CIPHERS.join(':'),
    honorCipherOrder: true,
    ...(requestClientCertificate
      ? {
          // RFC 8705 §5: the certificate is requested in the initial handshake (no renegotiation, which
          // TLS 1.3 does not have). It is not required: a private_key_jwt client may connect without
          // one, and a self-signed certificate must get through to be matched against its JWK Set.
          requestCert: true,
          rejectUnauthorized: false,
          ca: readFileSync(tls.clientCa),
        }
      : {}),
  };
}
