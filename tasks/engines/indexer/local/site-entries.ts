// A site's search entries on this machine: which transcripts still lack them, the entry files
// there are (with their MD5s, from the hash cache where it knows them, and their episodes), and
// writing the missing ones with the rule both indexers share (../episodes.ts).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../../platform/atomic.ts';
import { mapPool } from '../../../platform/limiter.ts';
import { errorMessage } from '../../../platform/errors.ts';
import { MANIFEST_KEY } from '../../../site/manifest.ts';
import type { SiteWork } from '../../site-work.ts';
import { md5File, type HashCache } from '../../sync/hash-cache.ts';
import { scanLocal } from '../../sync/scan.ts';
import { entriesKeyFor, ENTRIES_KEY, episodeOfKey, EpisodeLookup, transcriptEntries, TRANSCRIPT_KEY } from '../episodes.ts';
import type { EntryFile } from './shard-plan.ts';

export interface PendingTranscript {
  key: string;
  path: string;
  size: number;
  podcastId: string;
  fileKey: string;
}

export interface SiteEntries {
  /** The local manifest's episodes; undefined when it cannot be read (`lookupProblem` says why). */
  lookup?: EpisodeLookup;
  lookupProblem?: string;
  /** Transcripts without an entry file. */
  pending: PendingTranscript[];
  files: EntryFile[];
  /** Entry files whose episode is neither in the manifest nor in the file: left out of the index. */
  unplaced: { key: string; message: string }[];
}

/** Files hashed or peeked at once. */
const CONCURRENCY = 8;

export async function readSiteEntries(work: SiteWork, cache: HashCache): Promise<SiteEntries> {
  const { lookup, problem } = await readLookup(work.site.localDir);
  const scanned = await scanLocal(work.site.localDir, ['transcripts', 'search-entries'], cache);
  const entryKeys = new Set<string>();
  const entryFiles = scanned.flatMap((f) => {
    const episode = episodeOfKey(f.key, ENTRIES_KEY);
    if (!episode) return [];
    entryKeys.add(`${episode.podcastId}/${episode.fileKey}`);
    return [{ file: f, episode }];
  });
  const pending = scanned.flatMap((f): PendingTranscript[] => {
    const episode = episodeOfKey(f.key, TRANSCRIPT_KEY);
    return episode && !entryKeys.has(`${episode.podcastId}/${episode.fileKey}`) ? [{ key: f.key, path: f.path, size: f.size, ...episode }] : [];
  });

  const unplaced: SiteEntries['unplaced'] = [];
  const placed = await mapPool(entryFiles, CONCURRENCY, async ({ file, episode }): Promise<EntryFile | undefined> => {
    work.signal.throwIfAborted();
    let md5 = file.md5;
    if (md5 === undefined) {
      md5 = await md5File(file.path, work.signal);
      cache.remember(file.key, { size: file.size, mtimeMs: file.mtimeMs, md5 });
    }
    const sequentialId = lookup?.find(episode.podcastId, episode.fileKey)?.sequentialId ?? (await sequentialIdInFile(file.path));
    if (sequentialId === undefined) {
      unplaced.push({ key: file.key, message: `no episode "${episode.fileKey}" in ${MANIFEST_KEY}, and the file names none` });
      return undefined;
    }
    return { key: file.key, path: file.path, size: file.size, md5, sequentialId };
  });
  return { lookup, lookupProblem: problem, pending, files: placed.filter((f): f is EntryFile => f !== undefined), unplaced };
}

async function readLookup(localDir: string): Promise<{ lookup?: EpisodeLookup; problem?: string }> {
  let text: string;
  try {
    text = await readFile(path.join(localDir, ...MANIFEST_KEY.split('/')), 'utf8');
  } catch (error) {
    return { problem: `cannot read ${MANIFEST_KEY}: ${errorMessage(error)}` };
  }
  const parsed = EpisodeLookup.parse(text);
  return parsed.ok ? { lookup: parsed.lookup } : { problem: parsed.reason };
}

/** An entry file's own episode id (its first entry's), for files the manifest does not name. */
async function sequentialIdInFile(file: string): Promise<number | undefined> {
  try {
    const entries = JSON.parse(await readFile(file, 'utf8')) as { sequentialEpisodeIdAsString?: string }[];
    const id = Number(entries[0]?.sequentialEpisodeIdAsString);
    return Number.isInteger(id) && id >= 1 ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Search entries in `files` (files not written yet, in a dry run: estimated from their size). */
export async function countEntries(files: readonly EntryFile[], bytesPerEntry: number): Promise<number> {
  let count = 0;
  for (const f of files) {
    if (!f.path) count += Math.round(f.size / bytesPerEntry);
    else count += ((JSON.parse(await readFile(f.path, 'utf8')) as unknown[]) ?? []).length;
  }
  return count;
}

export interface WrittenEntries {
  keys: string[];
  entries: number;
  errors: { key: string; message: string }[];
}

/** An entry file for every pending transcript, each through the gate (a dry run plans them). */
export async function writePendingEntries(work: SiteWork, site: SiteEntries): Promise<WrittenEntries> {
  const result: WrittenEntries = { keys: [], entries: 0, errors: [] };
  if (site.pending.length === 0) return result;
  if (!site.lookup) {
    for (const t of site.pending) result.errors.push({ key: t.key, message: site.lookupProblem ?? `no ${MANIFEST_KEY}` });
    return result;
  }
  const lookup = site.lookup;
  let done = 0;
  await mapPool(site.pending, CONCURRENCY, async (transcript) => {
    work.signal.throwIfAborted();
    const target = entriesKeyFor(transcript.podcastId, transcript.fileKey);
    try {
      const converted = transcriptEntries(await readFile(transcript.path), lookup, transcript, transcript.key);
      if (!converted.ok) {
        result.errors.push({ key: transcript.key, message: converted.reason });
        return;
      }
      const written = await work.effect({ kind: 'write', target, reason: 'transcript without search entries' }, async () => {
        await writeFileAtomic(path.join(work.site.localDir, ...target.split('/')), JSON.stringify(converted.entries));
        return true;
      });
      result.keys.push(target);
      if (written) result.entries += converted.entries.length;
    } catch (error) {
      if (work.signal.aborted) throw error;
      result.errors.push({ key: transcript.key, message: errorMessage(error) });
    } finally {
      done++;
      work.log.activity(`writing search entries: ${done}/${site.pending.length} transcripts`);
    }
  });
  result.keys.sort();
  return result;
}
