import type { Command } from './command.js';

/**
 * Every `fapi-gateway` subcommand, in the order `--help` lists them. A command's module (and everything
 * it imports) is loaded only when that command runs or the help lists it: a gateway process then carries
 * none of the issuer's, the demo's or the PKI tools' modules (measured: importing every command up front
 * cost a server process ~24 MiB of RSS and ~6 MiB of heap).
 */
export const commands: readonly { name: string; load: () => Promise<Command> }[] = [
  { name: 'gateway', load: async () => (await import('./gateway-command.js')).gatewayCommand },
  { name: 'check-config', load: async () => (await import('./check-config-command.js')).checkConfigCommand },
  { name: 'dev-token', load: async () => (await import('./dev-token-command.js')).devTokenCommand },
  { name: 'issuer', load: async () => (await import('./issuer-command.js')).issuerCommand },
  { name: 'pki', load: async () => (await import('./pki-command.js')).pkiCommand },
  { name: 'demo', load: async () => (await import('./demo-command.js')).demoCommand },
  {
    name: 'client-assertion',
    load: async () => (await import('./client-assertion-command.js')).clientAssertionCommand,
  },
  { name: 'ciba-request', load: async () => (await import('./ciba-request-command.js')).cibaRequestCommand },
  { name: 'dpop-proof', load: async () => (await import('./dpop-proof-command.js')).dpopProofCommand },
];
