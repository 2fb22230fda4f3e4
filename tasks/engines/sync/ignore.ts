// The ignore rules both sides share (ARCHITECTURE.md "File layout"): dot-files (.DS_Store included), temporary
// and partial files, directory markers, and keys that cannot be a safe local path. A key
// ignored on one side is ignored on the other, so it never shows up as a difference.
import { isTemporaryName } from '../../platform/atomic.ts';

/** Two or more segments, none empty or starting with a dot, no backslash or control character. */
const PLAIN_KEY = /^[^./\\\u0000-\u001f\u007f][^/\\\u0000-\u001f\u007f]*(?:\/[^./\\\u0000-\u001f\u007f][^/\\\u0000-\u001f\u007f]*)+$/;

export type IgnoreReason = 'directory-marker' | 'dot-file' | 'temporary' | 'unsafe' | 'outside-sync-folders';

/**
 * Why `key` is never synced, or undefined when it is synced. `folders` are the synced
 * top-level folders; a key must sit inside one of them (not be the folder itself).
 */
export function ignoreReason(key: string, folders: readonly string[]): IgnoreReason | undefined {
  // The common key ("audio/<podcast>/<file>") in one pass: every rule below but the last two
  // holds when it matches (a tenth of a no-op run's CPU went to the general path).
  if (PLAIN_KEY.test(key)) return isTemporaryName(key) ? 'temporary' : folders.includes(topFolder(key)) ? undefined : 'outside-sync-folders';
  // Console-created "folders" are zero-byte objects named "a/b/".
  if (key.endsWith('/')) return 'directory-marker';
  const segments = key.split('/');
  // A bucket key is untrusted input: it must not escape the site folder or be ambiguous
  // on disk ("a//b", "./a", "..", backslashes, NUL and other control characters).
  if (segments.some((s) => s === '' || s === '.' || s === '..') || /[\\\u0000-\u001f\u007f]/.test(key)) return 'unsafe';
  if (segments.some((s) => s.startsWith('.'))) return 'dot-file';
  if (isTemporaryName(segments[segments.length - 1]!)) return 'temporary';
  if (segments.length < 2 || !folders.includes(segments[0]!)) return 'outside-sync-folders';
  return undefined;
}

/** The top-level folder of a key: the unit of the per-folder counts. */
export function topFolder(key: string): string {
  const slash = key.indexOf('/');
  return slash < 0 ? key : key.slice(0, slash);
}
