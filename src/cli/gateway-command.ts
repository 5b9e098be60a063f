import { loadConfigOrThrow } from '../config/load.js';
import { gatewayConfigSchema, GATEWAY_ENV_PREFIX } from '../gateway/config.js';
import { requiredOption, UsageError, type Command } from './command.js';

export const gatewayCommand: Command = {
  name: 'gateway',
  summary: 'Start the gateway (mTLS listener + admin listener) with a YAML/JSON configuration file.',
  usage: '--config FILE',
  options: { config: { type: 'string', short: 'c' } },
  async run(args) {
    const file = requiredOption(args, 'config');
    const config = loadConfigOrThrow(file, gatewayConfigSchema, { envPrefix: GATEWAY_ENV_PREFIX });
    const { runGateway } = await import('../gateway/run.js');
    const { StartupError } = await import('../gateway/startup-error.js');
    try {
      return await runGateway(config, { configFile: file });
    } catch (err) {
      if (err instanceof StartupError) throw new UsageError(err.message);
      throw err;
    }
  },
};
