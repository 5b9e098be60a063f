/**
 * How the gateway authenticates itself to the introspection endpoint (RFC 7662 §2.1 requires some
 * authentication). One function per method; keys and certificates are read and checked once, at start, so
 * a broken file stops start-up naming its key instead of failing every request.
 */
import { X509Certificate, createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import type { IntrospectionConfig } from '../config.js';

export interface ClientAuthentication {
  readonly method: IntrospectionConfig['auth']['method'];
  /** Client certificate and key for the TLS connection (tls_client_auth). */
  readonly tls?: { cert: string; key: string };
  /** Adds the method's parameters and headers to one introspection request. */
  apply(form: URLSearchParams, headers: Record<string, string>): void | Promise<void>;
}

/** A configuration problem with the key that causes it (start-up names it). */
export class ClientAuthenticationError extends Error {
  constructor(
    readonly key: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`${key}: ${message}`, options);
    this.name = 'ClientAuthenticationError';
  }
}

function readPem(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ClientAuthenticationError(key, `cannot read ${file} (${code})`, { cause: err });
  }
}

function privateKeyFrom(key: string, file: string): KeyObject {
  const pem = readPem(key, file);
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new ClientAuthenticationError(key, `${file} is not a PEM private key`, { cause: err });
  }
}

/** RFC 8705 §2: mutual TLS with the gateway's own certificate; client_id identifies the client (§2.1). */
function tlsClientAuth(clientId: string, certFile: string, keyFile: string): ClientAuthentication {
  const cert = readPem('tokens.introspection.auth.cert', certFile);
  const keyPem = readPem('tokens.introspection.auth.key', keyFile);
  const key = privateKeyFrom('tokens.introspection.auth.key', keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ClientAuthenticationError(
      'tokens.introspection.auth.cert',
      `${certFile} is not a PEM certificate`,
      { cause: err },
    );
  }
  // A mismatched pair would only show later, as refused handshakes at the authorization server.
  if (!x509.checkPrivateKey(key)) {
    throw new ClientAuthenticationError(
      'tokens.introspection.auth.key',
      `${keyFile} is not the private key of ${certFile}`,
    );
  }
  return {
    method: 'tls_client_auth',
    tls: { cert, key: keyPem },
    apply(form) {
      form.set('client_id', clientId);
    },
  };
}

/** RFC 7523 §2.2 / OIDC Core §9: a signed assertion, new `jti` on every call (FAPI 2 §5.3.2.1). */
function privateKeyJwt(
  clientId: string,
  issuer: string,
  auth: IntrospectionConfig['auth'],
): ClientAuthentication {
  const alg = auth.alg ?? 'PS256';
  const key = privateKeyFrom('tokens.introspection.auth.keyFile', auth.keyFile!);
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const fits =
    alg === 'ES256' ? type === 'ec' && curve === 'prime256v1' : type === 'rsa' || type === 'rsa-pss';
  if (!fits) {
    throw new ClientAuthenticationError(
      'tokens.introspection.auth.keyFile',
      `the key (${type ?? 'unknown'}${curve ? ` ${curve}` : ''}) cannot sign ${alg}: use ${
        alg === 'ES256' ? 'an EC P-256' : 'an RSA'
      } key or change tokens.introspection.auth.alg`,
    );
  }
  const audience = auth.audience ?? issuer;
  const header = auth.kid === undefined ? { alg } : { alg, kid: auth.kid };
  return {
    method: 'private_key_jwt',
    async apply(form) {
      const assertion = await new SignJWT({})
        .setProtectedHeader(header)
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(audience)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('60s')
        .sign(key);
      form.set('client_id', clientId);
      form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      form.set('client_assertion', assertion);
    },
  };
}

/** RFC 6749 §2.3.1: id and secret form-urlencoded before base64 (a `:` in either must survive). */
function clientSecretBasic(clientId: string, secret: string): ClientAuthentication {
  const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  const value = `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
  return {
    method: 'client_secret_basic',
    apply(_form, headers) {
      headers.authorization = value;
    },
  };
}

export function clientAuthentication(config: IntrospectionConfig, issuer: string): ClientAuthentication {
  const { auth, clientId } = config;
  switch (auth.method) {
    case 'tls_client_auth':
      return tlsClientAuth(clientId, auth.cert!, auth.key!);
    case 'private_key_jwt':
      return privateKeyJwt(clientId, issuer, auth);
    case 'client_secret_basic':
      return clientSecretBasic(clientId, auth.clientSecret!);
  }
}
