import type { Command } from './command.js';
import { checkConfigCommand } from './check-config-command.js';
import { gatewayCommand } from './gateway-command.js';
import { devTokenCommand } from './dev-token-command.js';
import { issuerCommand } from './issuer-command.js';
import { pkiCommand } from './pki-command.js';
import { demoCommand } from './demo-command.js';
import { clientAssertionCommand } from './client-assertion-command.js';
import { cibaRequestCommand } from './ciba-request-command.js';
import { dpopProofCommand } from './dpop-proof-command.js';

/** Every `fapi-gateway` subcommand, in the order `--help` lists them. */
export const commands: Command[] = [
  gatewayCommand,
  checkConfigCommand,
  devTokenCommand,
  issuerCommand,
  pkiCommand,
  demoCommand,
  clientAssertionCommand,
  cibaRequestCommand,
  dpopProofCommand,
];
