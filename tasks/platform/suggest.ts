// Near misses: "did you mean X?" for a flag, a folder, a step or a config field one or two edits away.

/** Optimal string alignment distance: Levenshtein where swapping two neighbours is one edit. */
export function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** " (did you mean X?)" for the closest candidate one or two edits away, else "". */
export function suggest(word: string, candidates: readonly string[], prefix = ''): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = distance(word, candidate);
    // Short names are never "near" a word of entirely different letters (--x is not --at).
    if (d < bestDistance && d < candidate.length) [best, bestDistance] = [candidate, d];
  }
  return best ? ` (did you mean ${prefix}${best}?)` : '';
}
