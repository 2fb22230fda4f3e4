// Placeholder until this step is built: the graph shows it as "skipped (not implemented)".
import type { StepFunction } from './context.ts';

export const preSync: StepFunction | 'not-implemented' = 'not-implemented';
