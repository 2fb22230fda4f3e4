// Episode file keys (ARCHITECTURE.md "File layout"): `YYYY-MM-DD_<Title>--<downloadedAtMs>`. Everything taken
// from a feed that ends up in a path goes through here, so a key is always one safe,
// ASCII-only path segment whatever the feed's title holds.

/** A key this runner produces: date, sanitised title (1-50 chars), 13-digit epoch ms. */
export const FILE_KEY_PATTERN = /^\d{4}-\d{2}-\d{2}_[A-Za-z0-9_]{1,50}--\d{13}$/;
/** Legacy keys from older buckets: no suffix, title with hyphens. Synced, never renamed. */
export const LEGACY_FILE_KEY_PATTERN = /^\d{4}-\d{2}-\d{2}_[A-Za-z0-9_-]+$/;

const MAX_TITLE_CHARS = 50;

/**
 * The title part: NFC, every character outside [A-Za-z0-9] becomes `_`, runs collapse,
 * leading/trailing `_` go, then the cut to 50 characters; empty becomes `Untitled`.
 */
export function fileKeyTitle(title: string): string {
  const sanitised = title
    .normalize('NFC')
    // One `_` per code point (the `u` flag keeps astral characters such as emoji whole).
    .replace(/[^A-Za-z0-9]/gu, '_')
    .replace(/_+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, MAX_TITLE_CHARS);
  return sanitised === '' ? 'Untitled' : sanitised;
}

/** `YYYY-MM-DD` of the instant in UTC. */
export function utcDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function episodeFileKey(publishedAt: Date, title: string, downloadedAtMs: number): string {
  if (Number.isNaN(publishedAt.getTime())) throw new Error(`file key: invalid publication date for "${title}"`);
  if (!Number.isInteger(downloadedAtMs) || String(downloadedAtMs).length !== 13) {
    throw new Error(`file key: downloadedAt must be 13-digit epoch milliseconds, got ${downloadedAtMs}`);
  }
  return `${utcDate(publishedAt)}_${fileKeyTitle(title)}--${downloadedAtMs}`;
}

/** Whether `key` is safe to use as a path segment (new or legacy form). */
export function isSafeFileKey(key: string): boolean {
  return FILE_KEY_PATTERN.test(key) || LEGACY_FILE_KEY_PATTERN.test(key);
}
