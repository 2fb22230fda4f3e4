// Where the losing copy of a real conflict goes before it is replaced (ARCHITECTURE.md, "Sync
// rules"): `<localRoot>/.conflicts/<siteId>/<key>.<side>-<time>`, outside the site folder so
// it is never synced, for the operator to compare and keep or delete.
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { renameIntoPlace, temporaryPathFor, trackTemporary } from '../../platform/atomic.ts';
import { mkdir } from 'node:fs/promises';

export function conflictCopyPath(localRoot: string, siteId: string, key: string, side: 'local' | 'bucket', at = new Date()): string {
  const stamp = at.toISOString().replace(/[-:.]/g, '');
  return path.join(localRoot, '.conflicts', siteId, ...key.split('/')) + `.${side}-${stamp}`;
}

/** Copy a local file aside (atomically: a killed run leaves no half copy under a final name). */
export async function keepLocalCopy(file: string, target: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const temp = temporaryPathFor(target);
  trackTemporary(temp);
  await copyFile(file, temp);
  await renameIntoPlace(temp, target);
}
