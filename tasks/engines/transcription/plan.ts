// What to transcribe: every audio/<podcastId>/<fileKey>.mp3 without its
// transcripts/<podcastId>/<fileKey>.srt, except an older download of an episode whose newer
// download the manifest lists (same key before "--", larger "--<ms>" suffix): transcribing the
// stale audio would waste an hour of CPU on a file the site no longer links.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { S3Key } from '../../platform/types.ts';
import { isTemporaryName } from '../../platform/atomic.ts';
import { manifestPath, readManifest, splitFileKey } from '../../site/manifest.ts';

export interface TranscriptionItem {
  podcastId: string;
  fileKey: string;
  audioKey: S3Key;
  audioPath: string;
  srtKey: S3Key;
  srtPath: string;
}

export interface TranscriptionPlan {
  todo: TranscriptionItem[];
  /** Audio that already has its transcript. */
  done: number;
  /** Older downloads superseded by a newer one in the manifest, with the newer key. */
  superseded: { audioKey: S3Key; newerFileKey: string }[];
}

/** Newest download per podcast + key stem, from the manifest's episodes (missing or unreadable manifest: none). */
export async function newestDownloads(siteDir: string): Promise<Map<string, { fileKey: string; ms: number }>> {
  const newest = new Map<string, { fileKey: string; ms: number }>();
  // No manifest (or one the rss step reports): transcribe everything.
  const read = await readManifest(manifestPath(siteDir));
  if (read.kind !== 'ok') return newest;
  for (const episode of read.manifest.episodes) {
    const { stem, ms } = splitFileKey(episode.fileKey);
    if (ms === undefined) continue;
    const id = `${episode.podcastId}/${stem}`;
    const known = newest.get(id);
    if (!known || ms > known.ms) newest.set(id, { fileKey: episode.fileKey, ms });
  }
  return newest;
}

async function listDir(dir: string): Promise<import('node:fs').Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

export async function planTranscription(siteDir: string): Promise<TranscriptionPlan> {
  const newest = await newestDownloads(siteDir);
  const plan: TranscriptionPlan = { todo: [], done: 0, superseded: [] };
  for (const podcast of await listDir(path.join(siteDir, 'audio'))) {
    if (!podcast.isDirectory() || podcast.name.startsWith('.')) continue;
    const podcastId = podcast.name;
    const transcripts = new Set((await listDir(path.join(siteDir, 'transcripts', podcastId))).map((e) => e.name));
    const audio = (await listDir(path.join(siteDir, 'audio', podcastId)))
      .filter((e) => e.isFile() && e.name.endsWith('.mp3') && !e.name.startsWith('.') && !isTemporaryName(e.name))
      .map((e) => e.name)
      .sort();
    for (const name of audio) {
      const fileKey = name.slice(0, -'.mp3'.length);
      if (transcripts.has(`${fileKey}.srt`)) {
        plan.done++;
        continue;
      }
      const audioKey = `audio/${podcastId}/${name}` as S3Key;
      const { stem, ms } = splitFileKey(fileKey);
      const newer = newest.get(`${podcastId}/${stem}`);
      if (ms !== undefined && newer && newer.ms > ms) {
        plan.superseded.push({ audioKey, newerFileKey: newer.fileKey });
        continue;
      }
      plan.todo.push({
        podcastId,
        fileKey,
        audioKey,
        audioPath: path.join(siteDir, 'audio', podcastId, name),
        srtKey: `transcripts/${podcastId}/${fileKey}.srt` as S3Key,
        srtPath: path.join(siteDir, 'transcripts', podcastId, `${fileKey}.srt`),
      });
    }
  }
  return plan;
}
