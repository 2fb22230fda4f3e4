// Golden files: the expected output of a renderer, kept in test/golden/. A test compares what it
// got with the file; UPDATE_GOLDEN=1 rewrites the file instead (then review the diff).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './cli.ts';

export function assertGolden(name: string, actual: string): void {
  const file = path.join(PROJECT_ROOT, 'test', 'golden', name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.CI && !existsSync(file)) assert.fail(`golden file ${name} is missing (run with UPDATE_GOLDEN=1 and commit it)`);
    writeFileSync(file, actual);
    return;
  }
  assert.equal(actual, readFileSync(file, 'utf8'), `output differs from test/golden/${name} (UPDATE_GOLDEN=1 rewrites it)`);
}

/** Times, durations, run ids and temporary paths replaced by placeholders, colours removed. */
export function normalizeOutput(text: string, replace: [RegExp | string, string][] = []): string {
  let out = text.replace(/\x1b\[[0-9;?]*[a-zA-Z]/g, '').replace(/\r/g, '');
  for (const [from, to] of replace) out = typeof from === 'string' ? out.split(from).join(to) : out.replace(from, to);
  return out
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}/g, '<time>')
    .replace(/run \d{8}T\d{6}-\d+/g, 'run <id>')
    .replace(/\b\d+(\.\d+)?(ms|s)\b/g, '<dur>')
    .replace(/\b\d+m\d{2}s\b/g, '<dur>')
    // Durations are right-aligned: their width must not move the columns around them.
    .replace(/ +<dur>/g, ' <dur>')
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
}
