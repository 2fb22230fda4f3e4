// SRT reading and writing, shared by transcription (merge, validation) and the indexer.
// Real files come with BOMs, UTF-16, CRLF, cp1252, missing index lines and empty cues;
// a timestamp line we cannot read is an error naming the line, never a silent skip.

export interface Cue {
  startMs: number;
  endMs: number;
  /** Cue text lines joined with "\n" (may be empty). */
  text: string;
}

export class SrtError extends Error {
  override name = 'SrtError';
}

/** Decode bytes: BOM first (UTF-8, UTF-16LE/BE), else strict UTF-8, else Windows-1252. */
export function decodeSrt(bytes: Uint8Array): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return new TextDecoder('utf-8').decode(bytes.subarray(3));
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

const TIME = String.raw`(\d+):([0-5]\d):([0-5]\d)[,.](\d{1,3})`;
const TIMING_LINE = new RegExp(String.raw`^\s*${TIME}\s*-->\s*${TIME}(?:\s.*)?$`);

function toMs(h: string, m: string, s: string, frac: string): number {
  // "5" after the comma means 500 ms, as in every SRT reader.
  return Number(h) * 3_600_000 + Number(m) * 60_000 + Number(s) * 1000 + Number(frac.padEnd(3, '0'));
}

/** Parse SRT text (or bytes). Throws SrtError for an unreadable timing line or no cues at all. */
export function parseSrt(input: string | Uint8Array, name = 'SRT'): Cue[] {
  const text = typeof input === 'string' ? input.replace(/^\uFEFF/, '') : decodeSrt(input);
  const lines = text.split(/\r\n|\r|\n/);
  const cues: Cue[] = [];
  let current: { startMs: number; endMs: number; lines: string[] } | undefined;

  const close = () => {
    if (!current) return;
    // Drop blank lines at the end, and an index line that belongs to the next cue.
    const body = current.lines;
    while (body.length > 0 && body[body.length - 1]!.trim() === '') body.pop();
    cues.push({ startMs: current.startMs, endMs: current.endMs, text: body.map((l) => l.trim()).join('\n').trim() });
    current = undefined;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const timing = TIMING_LINE.exec(line);
    if (timing) {
      // An index line directly above belongs to this cue, not to the previous one's text.
      if (current && current.lines.length > 0 && /^\s*\d+\s*$/.test(current.lines[current.lines.length - 1]!)) {
        const above = current.lines[current.lines.length - 2];
        if (above === undefined || above.trim() === '') current.lines.pop();
      }
      close();
      const [, h1, m1, s1, f1, h2, m2, s2, f2] = timing as unknown as string[];
      const startMs = toMs(h1!, m1!, s1!, f1!);
      const endMs = toMs(h2!, m2!, s2!, f2!);
      if (endMs < startMs) throw new SrtError(`${name}: line ${i + 1}: cue ends before it starts (${line.trim()})`);
      current = { startMs, endMs, lines: [] };
      continue;
    }
    if (line.includes('-->')) throw new SrtError(`${name}: line ${i + 1}: unreadable timing "${line.trim()}" (expected HH:MM:SS,mmm --> HH:MM:SS,mmm)`);
    if (current) current.lines.push(line);
    else if (line.trim() !== '' && !/^\s*\d+\s*$/.test(line)) {
      throw new SrtError(`${name}: line ${i + 1}: text before the first cue's timing line`);
    }
  }
  close();
  return cues;
}

function formatTime(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = Math.floor((total % 60_000) / 1000);
  const f = total % 1000;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')},${String(f).padStart(3, '0')}`;
}

/** Standard SRT: numbered from 1, LF line ends, a blank line after each cue. */
export function formatSrt(cues: readonly Cue[]): string {
  return cues.map((cue, i) => `${i + 1}\n${formatTime(cue.startMs)} --> ${formatTime(cue.endMs)}\n${cue.text}\n`).join('\n');
}
