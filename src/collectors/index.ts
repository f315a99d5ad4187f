import { pgStatActivity } from './pg-stat-activity.js';
import type { CollectorDefinition } from './types.js';

// Every collector, listed explicitly: no registration side effects at import. The order is the
// order of families on /metrics.
export const collectorDefinitions: readonly CollectorDefinition[] = [pgStatActivity];
