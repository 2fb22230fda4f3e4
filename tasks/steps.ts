// The per-site pipeline, in order, as plain data: each step's dependencies and its function.
// `needs`: a step is skipped when one of these failed fatally or was itself skipped for
// that reason. A step left out by --skip/--only does not block the steps after it: every
// step computes what it needs itself.
import type { StepFunction } from './context.ts';
import type { StepName } from './types.ts';
import { preSync } from './pre-sync.ts';
import { consistency } from './consistency.ts';
import { rss } from './rss.ts';
import { transcribe } from './transcribe.ts';
import { upload } from './upload.ts';
import { index } from './index-step.ts';

export interface StepDefinition {
  name: StepName;
  needs: StepName[];
  run: StepFunction | 'not-implemented';
}

export const PIPELINE: StepDefinition[] = [
  { name: 'pre-sync', needs: [], run: preSync },
  // Read-only report of the state pre-sync left.
  { name: 'consistency', needs: ['pre-sync'], run: consistency },
  // The manifest must come down from the bucket before new episodes are added to it.
  { name: 'rss', needs: ['pre-sync'], run: rss },
  // Transcripts that exist in the bucket must be local before deciding what to transcribe.
  { name: 'transcribe', needs: ['pre-sync'], run: transcribe },
  // Upload decides from the bucket listing pre-sync took; rss or transcribe failures still
  // leave files worth uploading.
  { name: 'upload', needs: ['pre-sync'], run: upload },
  { name: 'index', needs: ['upload'], run: index },
];
