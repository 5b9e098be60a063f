/**
 * Configuration text for the peers the gateway is measured against, as pure functions of ports and
 * files, so the test suite can check them with `nginx -t` and `haproxy -c`. Both peers terminate mTLS
 * with the same server certificate, client CA, protocol versions and ciphers as the gateway, and keep
 * upstream connections alive, so each comparison differs only in what the proxy does per request.
 */
import { TOKEN_ALGORITHM, TOKEN_AUDIENCE, TOKEN_ISSUER } from './pki.js';

/**
 * FAPI 1.0 Advanced §8.5: TLS 1.2 is limited to these four suites (OpenSSL names). TLS 1.3 suites are
 * all permitted.
 */
export const FAPI_TLS12_CIPHERS = [
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
].join(':');

export interface ProxyConfigOptions {
  /** A TCP port on 127.0.0.1, or a Unix socket path (the test suite binds no fixed ports). */
  listen: { port: number } | { socket: string };
  upstreamPort: number;
  serverCert: string;
  serverKey: string;
  clientCa: string;
  /** nginx worker processes / HAProxy threads: the same count as the gateway's processes. */
  processes: number;
  /** Folder for pid and temporary files. */
  runDir: string;
}

export function nginxConfig(o: ProxyConfigOptions): string {
  return `# fapi-gateway bench: nginx as an mTLS-terminating reverse proxy, no token check.
worker_processes ${o.processes};
pid ${o.runDir}/nginx.pid;
error_log ${o.runDir}/nginx-error.log warn;
events {
  worker_connections 4096;
}
http {
  access_log off;
  client_body_temp_path ${o.runDir}/nginx-body;
  proxy_temp_path ${o.runDir}/nginx-proxy;
  fastcgi_temp_path ${o.runDir}/nginx-fastcgi;
  uwsgi_temp_path ${o.runDir}/nginx-uwsgi;
  scgi_temp_path ${o.runDir}/nginx-scgi;
  client_max_body_size 1m;
  # Bodies up to 128 KiB stay in memory, as they do in the other proxies.
  client_body_buffer_size 128k;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  upstream legacy_api {
    server 127.0.0.1:${o.upstreamPort};
    keepalive 256;
  }
  server {
    listen ${'port' in o.listen ? `127.0.0.1:${o.listen.port}` : `unix:${o.listen.socket}`} ssl;
    ssl_certificate ${o.serverCert};
    ssl_certificate_key ${o.serverKey};
    ssl_client_certificate ${o.clientCa};
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ${FAPI_TLS12_CIPHERS};
    ssl_session_cache shared:fapi_bench:10m;
    location / {
      proxy_pass http://legacy_api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }
  }
}
`;
}

export interface HaproxyConfigOptions extends ProxyConfigOptions {
  /** HAProxy reads certificate and key from one PEM file. */
  serverCertAndKey: string;
  issuerPublicKey: string;
}

/**
 * HAProxy 2.6 doing the gateway's job natively: `jwt_verify` checks the signature only, so the alg,
 * `exp` (RFC 7519 §4.1.4), `iss` and `aud` are checked from the payload, and the RFC 8705 §3.1 binding
 * compares `cnf.x5t#S256` with the base64url SHA-256 of the presented certificate's DER.
 */
export function haproxyConfig(o: HaproxyConfigOptions): string {
  const unauthorized = `status 401 content-type application/json string '{"error":"invalid_token"}' hdr www-authenticate 'Bearer error="invalid_token"'`;
  return `# fapi-gateway bench: HAProxy as an mTLS proxy verifying certificate-bound JWT access tokens.
global
  nbthread ${o.processes}
  maxconn 4096
  pidfile ${o.runDir}/haproxy.pid
  ssl-default-bind-ciphers ${FAPI_TLS12_CIPHERS}
  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
  ssl-default-bind-options ssl-min-ver TLSv1.2
  tune.ssl.default-dh-param 2048
  tune.bufsize 32768

defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  timeout http-request 10s

frontend fapi
  bind ${'port' in o.listen ? `127.0.0.1:${o.listen.port}` : `unix@${o.listen.socket}`} ssl crt ${o.serverCertAndKey} ca-file ${o.clientCa} verify required
  http-request set-var(txn.bearer) http_auth_bearer
  http-request return status 401 hdr www-authenticate 'Bearer' unless { var(txn.bearer) -m found }
  http-request set-var(txn.now) date()
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
  http-request set-var(txn.cnf) var(txn.bearer),jwt_payload_query('$.cnf.x5t#S256')
  http-request set-var(txn.thumbprint) ssl_c_der,sha2(256),ub64enc
  acl alg_ok var(txn.bearer),jwt_header_query('$.alg') -m str ${TOKEN_ALGORITHM}
  acl signature_ok var(txn.bearer),jwt_verify("${TOKEN_ALGORITHM}","${o.issuerPublicKey}") -m int 1
  acl not_expired var(txn.exp),sub(txn.now) -m int gt 0
  acl issuer_ok var(txn.bearer),jwt_payload_query('$.iss') -m str ${TOKEN_ISSUER}
  acl audience_ok var(txn.bearer),jwt_payload_query('$.aud') -m str ${TOKEN_AUDIENCE}
  acl bound var(txn.cnf),strcmp(txn.thumbprint) eq 0
  http-request return ${unauthorized} unless alg_ok signature_ok not_expired issuer_ok audience_ok bound
  default_backend legacy_api

backend legacy_api
  http-reuse always
  server legacy 127.0.0.1:${o.upstreamPort} maxconn 256
`;
}
