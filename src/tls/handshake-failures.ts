/**
 * Why a TLS connection was refused, as a closed set of metric labels shared by the gateway and the issuer.
 * OpenSSL's messages are matched by code and text (checked against Node 20 and 24, OpenSSL 3).
 */

export const HANDSHAKE_FAILURE_REASONS = [
  'no_certificate',
  'untrusted_certificate',
  'weak_key',
  'ca_certificate',
  'certificate_too_large',
  'protocol_version',
  'cipher',
  'handshake_timeout',
  'other',
] as const;
export type HandshakeFailureReason = (typeof HANDSHAKE_FAILURE_REASONS)[number];

type TlsError = Error & { code?: string; reason?: string };

/** Maps a `tlsClientError` (and, when Node set one, the socket's authorizationError) to a reason. */
export function classifyHandshakeFailure(
  err: TlsError,
  authorizationError?: Error | string,
): HandshakeFailureReason {
  if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'handshake_timeout';
  // Node verifies the client chain after the handshake and, with rejectUnauthorized, closes the socket
  // itself: the only trace of an untrusted certificate is the socket's authorizationError.
  if (authorizationError) {
    return /KEY_TOO_SMALL|KEY TOO SMALL/i.test(
      typeof authorizationError === 'string' ? authorizationError : authorizationError.message,
    )
      ? 'weak_key'
      : 'untrusted_certificate';
  }
  const text = `${err.code ?? ''} ${err.reason ?? ''} ${err.message}`.toUpperCase();
  if (/DID_NOT_RETURN_A_CERTIFICATE|DID NOT RETURN A CERTIFICATE|CERTIFICATE_REQUIRED/.test(text))
    return 'no_certificate';
  if (/KEY_TOO_SMALL|KEY TOO SMALL/.test(text)) return 'weak_key';
  if (
    /CERTIFICATE_VERIFY_FAILED|CERTIFICATE VERIFY FAILED|UNKNOWN_CA|UNKNOWN CA|SELF.SIGNED|UNABLE.TO.GET.ISSUER|CERT_/.test(
      text,
    )
  )
    return 'untrusted_certificate';
  if (
    /UNSUPPORTED_PROTOCOL|UNSUPPORTED PROTOCOL|WRONG_VERSION|VERSION_TOO_LOW|NO_PROTOCOLS|PROTOCOL_VERSION|PROTOCOL VERSION/.test(
      text,
    )
  )
    return 'protocol_version';
  if (/NO_SHARED_CIPHER|NO SHARED CIPHER|NO_CIPHERS|NO_SUITABLE|SIGALGS/.test(text)) return 'cipher';
  return 'other';
}
