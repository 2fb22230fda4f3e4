// The decision core of `verify` (an episode-level audit of one site, in the spirit of
// `rclone check`): data in, findings out. The command gathers the manifest, the local tree and
// the comparison with one bucket listing; this module decides what is wrong and why.
// Table-tested in test/verify.test.ts.
import type { ManifestRead, ManifestEpisode } from '../../site/manifest.ts';
import { emptyManifest, mergeManifests, MANIFEST_KEY, splitFileKey } from '../../site/manifest.ts';
import { isSafeFileKey } from '../../site/file-key.ts';
import { isTemporaryName } from '../../platform/atomic.ts';
import { formatBytes } from '../../platform/format.ts';
import { resumeTargetOf } from '../feeds/audio-download.ts';
import type { SyncDiff } from '../sync/diff.ts';
import { ignoreReason } from '../sync/ignore.ts';

/** What fails the check (exit 1), in the order the table shows them. */
export const FINDING_KINDS = [
  'config-invalid',
  'bucket-check-failed',
  'manifest-unparseable',
  'manifest-missing',
  'duplicate-episode',
  'unsafe-file-key',
  'missing-audio',
  'missing-transcript',
  'missing-search-entries',
  'superseded',
  'orphan',
  'temporary-file',
  'local-only',
  'bucket-only',
  'differs',
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** Why an episode lacks a file without that being wrong: reported, never failing. */
export const NOTE_KINDS = ['audio-pruned', 'awaiting-transcript', 'awaiting-index', 'podcast-inactive', 'podcast-not-configured'] as const;
export type NoteKind = (typeof NOTE_KINDS)[number];

export interface Finding {
  kind: FindingKind;
  subject: string;
  detail: string;
}

export interface Note {
  kind: NoteKind;
  subject: string;
  detail: string;
}

export type BucketSide =
  | { kind: 'listed'; bucket: string; diff: SyncDiff }
  | { kind: 'failed'; bucket: string; code?: string; message: string };

export interface VerifyInput {
  podcasts: readonly { id: string; status: 'active' | 'inactive' }[];
  /** The local manifest as read (tasks/site/manifest.ts readManifest). */
  manifest: ManifestRead;
  /** Every file under the site folder, '/'-separated, dot-files and temporaries included. */
  tree: readonly string[];
  bucket: BucketSide;
}

export interface SiteVerdict {
  findings: Finding[];
  notes: Note[];
  /** Distinct episodes in the manifest (after collapsing duplicates). */
  episodes: number;
}

const EPISODE_FOLDERS = ['audio', 'transcripts', 'search-entries'] as const;
type EpisodeFolder = (typeof EPISODE_FOLDERS)[number];
const EXTENSION: Record<EpisodeFolder, string> = { audio: 'mp3', transcripts: 'srt', 'search-entries': 'json' };
const EPISODE_FILE = /^(audio|transcripts|search-entries)\/([^/]+)\/([^/]+)\.([a-z0-9]+)$/;

const fileOf = (folder: EpisodeFolder, podcastId: string, fileKey: string) => `${folder}/${podcastId}/${fileKey}.${EXTENSION[folder]}`;

export function verifySite(input: VerifyInput): SiteVerdict {
  const findings: Finding[] = [];
  const notes: Note[] = [];
  const bucketKeys = input.bucket.kind === 'listed' ? bucketSide(input.bucket.diff) : new Set<string>();
  // Episode files on either side: a file only one side has is a local-only/bucket-only finding, not a missing one.
  const localKeys = new Set(input.tree.filter((k) => ignoreReason(k, EPISODE_FOLDERS) === undefined));
  const listed = input.bucket.kind === 'listed';
  const where = (key: string) => (!listed ? 'local; bucket not listed' : !localKeys.has(key) ? 'bucket only' : bucketKeys.has(key) ? 'local and bucket' : 'local only');
  const episodeKeys = [...new Set([...localKeys, ...[...bucketKeys].filter((k) => ignoreReason(k, EPISODE_FOLDERS) === undefined)])].sort();
  const present = new Set(episodeKeys);

  findings.push(...temporaries(input.tree));
  findings.push(...comparison(input.bucket));

  let episodes = 0;
  const read = input.manifest;
  if (read.kind === 'invalid') {
    findings.push({ kind: 'manifest-unparseable', subject: MANIFEST_KEY, detail: `${read.reason}; episode and orphan checks skipped` });
  } else if (read.kind === 'missing') {
    if (episodeKeys.length > 0) {
      findings.push({ kind: 'manifest-missing', subject: MANIFEST_KEY, detail: `no local manifest, but ${episodeKeys.length} episode files; episode and orphan checks skipped` });
    }
  } else {
    const manifest = read.manifest;
    const merged = mergeManifests(manifest, emptyManifest());
    findings.push(...duplicates(manifest.episodes, merged.collapsed));
    episodes = merged.manifest.episodes.length;
    const statusOf = new Map(input.podcasts.map((p) => [p.id, p.status]));
    const indexed = new Set(episodeKeys.filter((k) => k.startsWith('search-entries/')).map((k) => k.split('/')[1]!));
    for (const episode of merged.manifest.episodes) {
      for (const result of checkEpisode(episode, present, statusOf, indexed)) {
        if (isNote(result)) notes.push(result);
        // Without a listing the bucket may still hold the file: say the check was local only.
        else findings.push(listed || !result.kind.startsWith('missing-') ? result : { ...result, detail: `${result.detail} (bucket not listed: local files only)` });
      }
    }
    findings.push(...orphans(episodeKeys, manifest.episodes, where));
  }

  const order = (list: readonly string[]) => (a: { kind: string; subject: string }, b: { kind: string; subject: string }) =>
    list.indexOf(a.kind) - list.indexOf(b.kind) || (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0);
  findings.sort(order(FINDING_KINDS));
  notes.sort(order(NOTE_KINDS));
  return { findings, notes, episodes };
}

const isNote = (x: Finding | Note): x is Note => (NOTE_KINDS as readonly string[]).includes(x.kind);

/** Keys the bucket holds, from the comparison with its listing. */
function bucketSide(diff: SyncDiff): Set<string> {
  return new Set<string>([...diff.s3Only.map((f) => f.key), ...diff.consistent.map((c) => c.remote.key), ...diff.conflicts.map((c) => c.key)]);
}

/** Atomic-write temporaries and audio resume files: what an interrupted run leaves behind. */
function temporaries(tree: readonly string[]): Finding[] {
  const all = new Set(tree);
  const out: Finding[] = [];
  for (const key of tree) {
    const slash = key.lastIndexOf('/');
    const folder = key.slice(0, slash + 1);
    const name = key.slice(slash + 1);
    const target = resumeTargetOf(name);
    if (target !== undefined) {
      const done = all.has(folder + target);
      out.push({ kind: 'temporary-file', subject: key, detail: done ? `leftover of a finished download of ${target}` : `unfinished download of ${target} (the next rss run resumes it)` });
    } else if (isTemporaryName(name)) {
      out.push({ kind: 'temporary-file', subject: key, detail: 'temporary file of an interrupted write (or of a run in progress)' });
    }
  }
  return out;
}

function comparison(side: BucketSide): Finding[] {
  if (side.kind === 'failed') {
    return [{ kind: 'bucket-check-failed', subject: `s3://${side.bucket}`, detail: side.message + (side.code && !side.message.includes(side.code) ? ` (${side.code})` : '') }];
  }
  return [
    ...side.diff.localOnly.map((f): Finding => ({ kind: 'local-only', subject: f.key, detail: `${formatBytes(f.size)}, not in the bucket` })),
    ...side.diff.s3Only.map((f): Finding => ({ kind: 'bucket-only', subject: f.key, detail: `${formatBytes(f.size)}, not in the local folder` })),
    ...side.diff.conflicts.map((c): Finding => ({ kind: 'differs', subject: c.key, detail: c.detail })),
  ];
}

/** The same episode listed twice, by the manifest's own identity rules (mergeManifests collapses them). */
function duplicates(entries: readonly ManifestEpisode[], collapsed: { kept: ManifestEpisode; dropped: ManifestEpisode }[]): Finding[] {
  const out: Finding[] = collapsed.map(({ kept, dropped }) => ({
    kind: 'duplicate-episode',
    subject: `${dropped.podcastId}/${dropped.fileKey}`,
    detail: `same episode as ${kept.podcastId}/${kept.fileKey} ("${String(kept.title ?? '')}")`,
  }));
  // Same file key twice is collapsed silently by the merge (it is one key): count it here.
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(`${e.podcastId}/${e.fileKey}`, (counts.get(`${e.podcastId}/${e.fileKey}`) ?? 0) + 1);
  for (const [subject, n] of counts) if (n > 1) out.push({ kind: 'duplicate-episode', subject, detail: `file key listed ${n} times` });
  return out;
}

/** One episode: its findings, and notes explaining files it lacks without that being wrong. */
function checkEpisode(episode: ManifestEpisode, present: Set<string>, statusOf: Map<string, string>, indexed: Set<string>): (Finding | Note)[] {
  const { podcastId, fileKey } = episode;
  const id = `${podcastId}/${fileKey}`;
  if (!isSafeFileKey(fileKey)) return [{ kind: 'unsafe-file-key', subject: id, detail: `"${String(episode.title ?? '')}": not a safe file key; its files are not checked` }];
  const audio = fileOf('audio', podcastId, fileKey);
  const transcript = fileOf('transcripts', podcastId, fileKey);
  const entries = fileOf('search-entries', podcastId, fileKey);
  const has = { audio: present.has(audio), transcript: present.has(transcript), entries: present.has(entries) };
  if (has.transcript) {
    const out: (Finding | Note)[] = [];
    if (!has.audio) out.push({ kind: 'audio-pruned', subject: audio, detail: 'transcribed; the audio may have been pruned' });
    if (!has.entries && indexed.has(podcastId)) out.push({ kind: 'missing-search-entries', subject: entries, detail: 'the transcript exists and the podcast has been indexed' });
    if (!has.entries && !indexed.has(podcastId)) out.push({ kind: 'awaiting-index', subject: entries, detail: 'no search entries for this podcast yet' });
    return out;
  }
  if (has.entries) return [{ kind: 'missing-transcript', subject: transcript, detail: 'search entries exist, the transcript they came from does not' }];
  if (has.audio) return [{ kind: 'awaiting-transcript', subject: transcript, detail: 'audio downloaded, not transcribed yet' }];
  const status = statusOf.get(podcastId);
  if (status === 'inactive') return [{ kind: 'podcast-inactive', subject: id, detail: 'no audio or transcript; its podcast is inactive' }];
  if (status === undefined) return [{ kind: 'podcast-not-configured', subject: id, detail: 'no audio or transcript; its podcast is not in site.config.json' }];
  return [{ kind: 'missing-audio', subject: audio, detail: 'no audio and no transcript, locally or in the bucket' }];
}

const msOf = (e: ManifestEpisode) => splitFileKey(e.fileKey).ms ?? -1;

/** Episode-folder files no manifest entry names; older downloads of a listed episode are "superseded". */
function orphans(keys: readonly string[], entries: readonly ManifestEpisode[], where: (key: string) => string): Finding[] {
  const named = new Set(entries.map((e) => `${e.podcastId}/${e.fileKey}`));
  // podcast + date/title stem -> the manifest's keys with that stem
  const byStem = new Map<string, ManifestEpisode[]>();
  for (const e of entries) {
    const stem = `${e.podcastId}/${splitFileKey(e.fileKey).stem}`;
    byStem.set(stem, [...(byStem.get(stem) ?? []), e]);
  }
  const out: Finding[] = [];
  for (const key of keys) {
    const m = EPISODE_FILE.exec(key);
    if (!m || EXTENSION[m[1] as EpisodeFolder] !== m[4]) {
      out.push({ kind: 'orphan', subject: key, detail: `not an episode file name (${where(key)})` });
      continue;
    }
    const [, , podcastId, fileKey] = m as unknown as [string, string, string, string];
    if (named.has(`${podcastId}/${fileKey}`)) continue;
    const { stem, ms } = splitFileKey(fileKey);
    const siblings = byStem.get(`${podcastId}/${stem}`) ?? [];
    const newest = siblings.reduce<ManifestEpisode | undefined>((best, e) => (!best || msOf(e) > msOf(best) ? e : best), undefined);
    if (ms !== undefined && newest && msOf(newest) > ms) {
      out.push({ kind: 'superseded', subject: key, detail: `an older download of ${podcastId}/${newest.fileKey} (${where(key)})` });
    } else if (siblings.length > 0) {
      out.push({ kind: 'orphan', subject: key, detail: `same date and title as ${podcastId}/${siblings[0]!.fileKey}, which the manifest lists (${where(key)})` });
    } else {
      out.push({ kind: 'orphan', subject: key, detail: `belongs to no manifest episode (${where(key)})` });
    }
  }
  return out;
}
