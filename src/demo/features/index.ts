/** The parts of `fapi-gateway demo`, in the order they print: one module each, one line here. */
import type { DemoFeature } from '../demo.js';
import { boundTokensFeature } from './bound-tokens.js';
import { customerJourneyFeature } from './customer-journey.js';
import { cibaFeature } from './ciba.js';
import { opaqueAndDpopTokensFeature } from './opaque-and-dpop-tokens.js';

export const demoFeatures: DemoFeature[] = [
  boundTokensFeature,
  opaqueAndDpopTokensFeature,
  customerJourneyFeature,
  cibaFeature,
];
