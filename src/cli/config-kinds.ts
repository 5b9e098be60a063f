/** The configuration files `check-config` knows, each validated by its one schema. */
import type { z } from 'zod';
import { gatewayConfigSchema, GATEWAY_ENV_PREFIX } from '../gateway/config.js';
import { issuerConfigSchema, ISSUER_ENV_PREFIX } from '../issuer/config.js';

export interface ConfigKind {
  schema: z.ZodType;
  envPrefix: string;
}

export const configKinds: Record<string, ConfigKind> = {
  gateway: { schema: gatewayConfigSchema, envPrefix: GATEWAY_ENV_PREFIX },
  issuer: { schema: issuerConfigSchema, envPrefix: ISSUER_ENV_PREFIX },
};
