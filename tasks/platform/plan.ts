// Plans as data: every side effect of a step (a download, an upload, a file written, an
// episode added, a transcription, an invocation) passes one gate that records it. A dry run
// records and does nothing; a real run records what it did. Both end up in the summary.

export type ActionKind = 'download' | 'upload' | 'write' | 'delete' | 'add-episode' | 'transcribe' | 'invoke';

/** One side effect: what, on which target, and why. */
export interface PlannedAction {
  kind: ActionKind;
  /** A key, an s3:// URL, a function name. */
  target: string;
  reason: string;
}

/** The gate in front of every side effect: runs `effect` (or not, in a dry run) and records the action. */
export type Gate = <T>(action: PlannedAction, effect: () => Promise<T>) => Promise<T | undefined>;

/**
 * A gate that records into `actions`. In a dry run the effect never runs and the caller gets
 * undefined; in a real run the action is recorded once the effect succeeded.
 */
export function createGate(dryRun: boolean, actions: PlannedAction[], onPlanned?: (action: PlannedAction) => void): Gate {
  return async <T>(action: PlannedAction, effect: () => Promise<T>): Promise<T | undefined> => {
    if (dryRun) {
      actions.push(action);
      onPlanned?.(action);
      return undefined;
    }
    const result = await effect();
    actions.push(action);
    return result;
  };
}
