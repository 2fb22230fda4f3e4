// The repository stands alone: no test, bench, task or script reads the team's shared corpus
// beside the repository, and every file that the fixtures' INDEX.md tables list is in test/fixtures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURES } from './helpers/fixtures.ts';
import { tempDir } from './helpers/temp.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCANNED = ['test', 'bench', 'tasks', 'scripts', 'Taskfile.ts'];
/** Repository-relative paths allowed to name the shared corpus: the fixtures' provenance note and this file. */
const ALLOWED = new Set(['test/fixtures/README.md', 'test/standalone.test.ts']);
/** What .gitignore keeps out of the repository (generated, never committed). */
const IGNORED_DIRS = new Set(['node_modules', '.git', '.cache', '.scratch', '.demo', 'dist', 'aws-local-dev', 'bench/results']);
// Spelled in parts, so this file does not name the corpus itself (scanners outside the test read it too).
const SHARED = 'sha' + 'red';
const OUTSIDE = `../${SHARED}`;
const CORPUS = `${SHARED}/corpus`;
const NEEDLES = [OUTSIDE, CORPUS].map((s) => Buffer.from(s));
const FOLDERS = ['feeds', 'bad', 'srt', 'audio'];

/** Every regular file under `entries` (relative to `root`), as forward-slash relative paths. */
function filesUnder(root: string, entries: string[]): string[] {
  const found: string[] = [];
  const walk = (rel: string): void => {
    const full = path.join(root, rel);
    const stats = statSync(full, { throwIfNoEntry: false });
    if (!stats) return;
    if (stats.isFile()) {
      found.push(rel);
      return;
    }
    if (!stats.isDirectory()) return;
    for (const entry of readdirSync(full, { withFileTypes: true })) {
      const child = `${rel}/${entry.name}`;
      if (entry.isSymbolicLink() || IGNORED_DIRS.has(entry.name) || IGNORED_DIRS.has(child)) continue;
      if (entry.isFile() && entry.name.endsWith('.log')) continue;
      walk(child);
    }
  };
  for (const entry of entries) walk(entry);
  return found.sort();
}

/** `file: needle` for every file under `entries` that mentions the shared corpus (bytes, so binaries count too). */
function sharedCorpusMentions(root: string, entries: string[]): string[] {
  const hits: string[] = [];
  for (const rel of filesUnder(root, entries)) {
    if (ALLOWED.has(rel)) continue;
    const bytes = readFileSync(path.join(root, rel));
    for (const needle of NEEDLES) if (bytes.includes(needle)) hits.push(`${rel}: ${needle.toString()}`);
  }
  return hits;
}

interface IndexRow {
  folder: string;
  line: number;
  /** The `file` column, then any file named in the `reference` column (audio). */
  files: string[];
  bytes?: number;
}

/** The rows of every table in `folder/INDEX.md` whose first column is `file`. */
function indexRows(folder: string): IndexRow[] {
  const rows: IndexRow[] = [];
  let header: string[] | undefined;
  readFileSync(path.join(FIXTURES, folder, 'INDEX.md'), 'utf8').split('\n').forEach((text, i) => {
    if (!text.startsWith('|')) {
      header = undefined;
      return;
    }
    const cells = text.split('|').slice(1, -1).map((c) => c.trim());
    if (!header) {
      header = cells;
      return;
    }
    if (cells.every((c) => /^:?-+:?$/.test(c)) || header[0] !== 'file') return;
    const column = (name: string) => cells[header!.indexOf(name)];
    const references = (column('reference') ?? '').split(',').map((s) => s.trim()).filter((s) => s && s !== '-');
    const bytes = column('bytes');
    rows.push({ folder, line: i + 1, files: [cells[0]!, ...references], bytes: bytes === undefined ? undefined : Number(bytes) });
  });
  return rows;
}

/** `file -> sha256` from the `## file` sections of `folder/INDEX.md` (their `bytes N; sha256 `…`` line). */
function indexChecksums(folder: string): Map<string, { bytes: number; sha256: string }> {
  const sums = new Map<string, { bytes: number; sha256: string }>();
  let section: string | undefined;
  for (const text of readFileSync(path.join(FIXTURES, folder, 'INDEX.md'), 'utf8').split('\n')) {
    const heading = /^## (\S+)$/.exec(text);
    if (heading) section = heading[1];
    const sum = /bytes (\d+); sha256 `([0-9a-f]{64})`/.exec(text);
    if (sum && section) sums.set(section, { bytes: Number(sum[1]), sha256: sum[2]! });
  }
  return sums;
}

test('no file under test/, bench/, tasks/, scripts/ or Taskfile.ts mentions the shared corpus outside the repository', () => {
  const scanned = filesUnder(ROOT, SCANNED);
  // The walk really ran: it saw this suite, the helpers, the sources and the fixtures.
  for (const expected of ['Taskfile.ts', 'test/srt.test.ts', 'test/helpers/fixtures.ts', 'bench/transcribe.ts', 'tasks/site/srt.ts', 'scripts/ingest.mjs', 'test/fixtures/srt/INDEX.md']) {
    assert.ok(scanned.includes(expected), `${expected} was not scanned`);
  }
  assert.deepEqual(sharedCorpusMentions(ROOT, SCANNED), []);
});

test('the shared-corpus scan finds a mention in a nested file and ignores the allowed ones', async (t) => {
  const root = await tempDir(t);
  mkdirSync(path.join(root, 'test/helpers'), { recursive: true });
  mkdirSync(path.join(root, 'test/fixtures'), { recursive: true });
  mkdirSync(path.join(root, 'tasks/node_modules'), { recursive: true });
  writeFileSync(path.join(root, 'test/helpers/x.ts'), `const A = path.resolve(ROOT, '..' + '/${CORPUS}/srt');\n`);
  writeFileSync(path.join(root, 'Taskfile.ts'), `const B = '${OUTSIDE}/hooks';\n`);
  writeFileSync(path.join(root, 'test/fixtures/README.md'), `copied from ${CORPUS}\n`);
  writeFileSync(path.join(root, 'tasks/node_modules/y.js'), `${OUTSIDE}\n`);
  writeFileSync(path.join(root, 'tasks/clean.ts'), 'export const shared = 1;\n');
  assert.deepEqual(sharedCorpusMentions(root, SCANNED), [`Taskfile.ts: ${OUTSIDE}`, `test/helpers/x.ts: ${CORPUS}`]);
});

test('every file listed in a fixture INDEX.md table is in test/fixtures, with the listed size', () => {
  for (const folder of FOLDERS) {
    assert.ok(existsSync(path.join(FIXTURES, folder, 'INDEX.md')), `${folder}/INDEX.md is missing`);
    const rows = indexRows(folder);
    assert.ok(rows.length > 0, `${folder}/INDEX.md has no file rows`);
    for (const row of rows) {
      for (const file of row.files) {
        const where = `${folder}/INDEX.md line ${row.line}: ${folder}/${file}`;
        const stats = statSync(path.join(FIXTURES, folder, file), { throwIfNoEntry: false });
        assert.ok(stats?.isFile(), `${where} is missing`);
      }
      if (row.bytes !== undefined) {
        assert.equal(statSync(path.join(FIXTURES, folder, row.files[0]!)).size, row.bytes, `${folder}/INDEX.md line ${row.line}: size of ${row.files[0]}`);
      }
    }
  }
});

test('every fixture with a checksum in its INDEX.md is byte for byte the listed file', () => {
  let checked = 0;
  for (const folder of FOLDERS) {
    for (const [file, expected] of indexChecksums(folder)) {
      const bytes = readFileSync(path.join(FIXTURES, folder, file));
      assert.equal(bytes.length, expected.bytes, `${folder}/${file}: size`);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), expected.sha256, `${folder}/${file}: sha256`);
      checked++;
    }
  }
  assert.ok(checked >= 77, `only ${checked} checksums found in the INDEX.md files`);
});
