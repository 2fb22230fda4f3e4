// Sizes and durations as the logs and the summary print them.

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** "3m05s", "42s": a remaining time, coarse. */
export function formatEta(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface TransferProgress {
  verb: string;
  done: number;
  total: number;
  noun: string;
  bytes: number;
  totalBytes?: number;
  startedAt: number;
  now?: number;
}

/**
 * "45% 3/10 files · 12 MB of 27 MB · 4.2 MB/s · 3s left · downloading": numbers first, so a
 * narrow terminal that cuts the line keeps them; the words come last.
 */
export function formatTransfer(p: TransferProgress): string {
  const now = p.now ?? Date.now();
  const elapsed = Math.max(1, now - p.startedAt);
  const rate = (p.bytes / elapsed) * 1000;
  const parts: string[] = [];
  const fraction = p.totalBytes ? p.bytes / p.totalBytes : p.total ? p.done / p.total : 0;
  parts.push(`${Math.min(100, Math.floor(fraction * 100))}% ${p.done}/${p.total} ${p.noun}`);
  parts.push(p.totalBytes ? `${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}` : formatBytes(p.bytes));
  // A rate over the first second says nothing yet.
  if (elapsed >= 1000 && p.bytes > 0) {
    parts.push(`${formatBytes(rate)}/s`);
    if (p.totalBytes && p.bytes < p.totalBytes) parts.push(`${formatEta(((p.totalBytes - p.bytes) / rate) * 1000)} left`);
  }
  parts.push(p.verb);
  return parts.join(' · ');
}

/**
 * Words into lines of at most `width` characters, the first line led by `first` and the others
 * by `rest` (a hanging indent). A word longer than a line gets a line of its own.
 */
export function wrapWords(words: readonly string[], width: number, first: string, rest = first): string {
  const lines = [first];
  let empty = true;
  for (const word of words) {
    if (!empty && lines.at(-1)!.length + 1 + word.length > width) {
      lines.push(rest);
      empty = true;
    }
    lines[lines.length - 1] += (empty ? '' : ' ') + word;
    empty = false;
  }
  return lines.join('\n');
}
