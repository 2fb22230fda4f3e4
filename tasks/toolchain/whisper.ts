// Placeholder: whisper.cpp set-up (binary build and model) lands with the transcription issue.
import type { SetupOptions, SetupResult } from './ffmpeg.ts';

export async function ensureWhisper({ say }: SetupOptions): Promise<SetupResult> {
  say('whisper.cpp: not set up yet (transcription not implemented)');
  return { ok: true };
}
