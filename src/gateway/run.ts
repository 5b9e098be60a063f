import type { GatewayConfig } from './config.js';

/** Starts the gateway and resolves with the exit code once it has stopped. (Placeholder until the gateway lands.) */
export function runGateway(_config: GatewayConfig, _options: { configFile: string }): Promise<number> {
  return Promise.reject(new Error('the gateway is not implemented yet'));
}
