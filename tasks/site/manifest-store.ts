// The local copy of a site's episode manifest: read, and rewrite atomically after keeping the
// previous version as a backup. Backups live outside the site folder (never synced), the last
// few per site, and are the last resort when neither copy of the manifest parses.
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../platform/atomic.ts';
import { parseManifest, serializeManifest, type Manifest } from './manifest.ts';

/** Backups kept per site (the oldest go first). */
export const MANIFEST_BACKUPS_KEPT = 5;

/** The local manifest as bytes on disk and, when it parses, as a document. */
export type LocalManifest =
  | { kind: 'missing' }
  | { kind: 'ok'; manifest: Manifest; text: string }
  | { kind: 'invalid'; reason: string; text: string };

export async function readLocalManifest(file: string): Promise<LocalManifest> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'invalid', reason: `cannot read it: ${(error as Error).message}`, text: '' };
  }
  const parsed = parseManifest(text);
  return parsed.ok ? { kind: 'ok', manifest: parsed.manifest, text } : { kind: 'invalid', reason: parsed.reason, text };
}

/** `<localRoot>/.backups/<siteId>/episode-manifest/` */
export function manifestBackupDir(localRoot: string, siteId: string): string {
  return path.join(localRoot, '.backups', siteId, 'episode-manifest');
}

/**
 * Write `manifest` to `file`; a non-empty previous version is copied into `backupDir` first
 * (named by the time of the rewrite), and backups beyond the last few are removed.
 */
export async function writeManifestWithBackup(file: string, content: Manifest | string, backupDir: string, mtime?: Date): Promise<string> {
  const text = typeof content === 'string' ? content : serializeManifest(content);
  const previous = await readFile(file).catch(() => undefined);
  if (previous && previous.length > 0 && previous.toString('utf8') !== text) {
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    const backup = path.join(backupDir, `full-episode-manifest.${stamp}.json`);
    await writeFileAtomic(backup, previous);
    await pruneBackups(backupDir);
  }
  await writeFileAtomic(file, text, mtime ? { mtime } : {});
  return text;
}

/** Backup names, newest first (their names sort by time). */
async function backupNames(backupDir: string): Promise<string[]> {
  const names = await readdir(backupDir).catch(() => [] as string[]);
  return names.filter((n) => /^full-episode-manifest\.\d{8}T\d{9}Z\.json$/.test(n)).sort().reverse();
}

async function pruneBackups(backupDir: string): Promise<void> {
  for (const name of (await backupNames(backupDir)).slice(MANIFEST_BACKUPS_KEPT)) await rm(path.join(backupDir, name), { force: true });
}

/** The newest backup that parses, with its file name, or undefined. */
export async function newestGoodBackup(backupDir: string): Promise<{ manifest: Manifest; name: string } | undefined> {
  for (const name of await backupNames(backupDir)) {
    const parsed = parseManifest(await readFile(path.join(backupDir, name), 'utf8').catch(() => ''));
    if (parsed.ok) return { manifest: parsed.manifest, name };
  }
  return undefined;
}
