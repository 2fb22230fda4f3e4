// ETag / Last-Modified of each feed, remembered between runs in
// `<localRoot>/.cache/feed-validators-<site>.json` (a dot-folder beside the site folders, never
// synced). Losing it only costs one full download per feed.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../platform/atomic.ts';
import type { Validators } from './fetch.ts';

/** Feed URL -> validators, plus the HTTP charset so a 304 can re-read the snapshot correctly. */
export type ValidatorsCache = Record<string, Validators & { charset?: string }>;

export function validatorsCachePath(localRoot: string, siteId: string): string {
  return path.join(localRoot, '.cache', `feed-validators-${siteId}.json`);
}

export async function readValidators(file: string): Promise<ValidatorsCache> {
  try {
    const data = JSON.parse(await readFile(file, 'utf8')) as unknown;
    return data && typeof data === 'object' && !Array.isArray(data) ? (data as ValidatorsCache) : {};
  } catch {
    // Missing or corrupt: fetch unconditionally this time.
    return {};
  }
}

export async function writeValidators(file: string, cache: ValidatorsCache): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(cache, null, 2) + '\n');
}
