import { loadConfigOrThrow } from '../config/load.js';
import { issuerConfigSchema, ISSUER_ENV_PREFIX } from '../issuer/config.js';
import { requiredOption, type Command } from './command.js';
import { untilSignal } from './signals.js';

export const issuerCommand: Command = {
  name: 'issuer',
  summary:
    'Start the FAPI token issuer (HTTPS + mTLS + admin listeners) with a YAML/JSON configuration file.',
  usage: '--config FILE',
  options: { config: { type: 'string', short: 'c' } },
  async run(args) {
    const file = requiredOption(args, 'config');
    const config = loadConfigOrThrow(file, issuerConfigSchema, { envPrefix: ISSUER_ENV_PREFIX });
    const { startIssuer } = await import('../issuer/server.js');
    const issuer = await startIssuer(config, { configFile: file });
    process.stdout.write(
      `issuer ${issuer.url} (mTLS ${issuer.mtlsUrl}${issuer.adminPort ? `, admin port ${issuer.adminPort}` : ''})\n`,
    );
    await untilSignal();
    await issuer.close();
    return 0;
  },
};
