// The import graph points one way (ARCHITECTURE.md, "Layers"): the entry point and commands,
// then the run, then the steps, then the engines, then site data and AWS, then the platform.
// A module may import from its own layer and the layers below it, never from above.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './helpers/cli.ts';

/** Layers from the top (0) down; a path's layer is the first prefix it matches. */
export const LAYERS: { name: string; prefixes: string[] }[] = [
  { name: 'entry and commands', prefixes: ['Taskfile.ts', 'tasks/commands/', 'tasks/demo/'] },
  { name: 'run', prefixes: ['tasks/run/'] },
  { name: 'steps', prefixes: ['tasks/steps/'] },
  { name: 'engines', prefixes: ['tasks/engines/'] },
  { name: 'site data and AWS', prefixes: ['tasks/site/', 'tasks/aws/'] },
  { name: 'platform', prefixes: ['tasks/platform/'] },
];

export function layerOf(file: string): number {
  const index = LAYERS.findIndex((layer) => layer.prefixes.some((p) => file === p || file.startsWith(p)));
  return index;
}

/** Every relative import (static and dynamic) of a source text. */
export function importsOf(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) found.push(m[1]!);
  return found;
}

function sourceFiles(): string[] {
  const files = ['Taskfile.ts'];
  for (const entry of readdirSync(path.join(PROJECT_ROOT, 'tasks'), { recursive: true, withFileTypes: true })) {
    // Dot-files are other tests' temporary sources (the launcher test adds one).
    if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.startsWith('.')) files.push(path.relative(PROJECT_ROOT, path.join(entry.parentPath, entry.name)));
  }
  return files.sort();
}

/** Imports that point up a layer, as "from -> to (layer -> layer)". */
export function upwardImports(files: { file: string; source: string }[]): string[] {
  const problems: string[] = [];
  for (const { file, source } of files) {
    const from = layerOf(file);
    for (const spec of importsOf(source)) {
      const target = path.normalize(path.join(path.dirname(file), spec));
      const to = layerOf(target);
      if (to >= 0 && from >= 0 && to < from) problems.push(`${file} -> ${target} (${LAYERS[from]!.name} imports ${LAYERS[to]!.name})`);
    }
  }
  return problems;
}

test('every source file belongs to a layer', () => {
  const orphans = sourceFiles().filter((f) => layerOf(f) < 0);
  assert.deepEqual(orphans, [], 'files outside every layer');
});

test('no import points up a layer', () => {
  const files = sourceFiles().map((file) => ({ file, source: readFileSync(path.join(PROJECT_ROOT, file), 'utf8') }));
  assert.ok(files.length > 60, 'the sources were found');
  assert.deepEqual(upwardImports(files), []);
});

test('the check itself: an engine importing a step, or the platform importing the run, is caught', () => {
  const planted = [
    { file: 'tasks/engines/sync/x.ts', source: "import { upload } from '../../steps/upload.ts';" },
    { file: 'tasks/platform/y.ts', source: "const m = await import('../run/graph.ts');" },
    { file: 'tasks/steps/z.ts', source: "import { a } from '../engines/sync/diff.ts';\nimport { b } from '../platform/log.ts';" },
  ];
  assert.deepEqual(upwardImports(planted), [
    'tasks/engines/sync/x.ts -> tasks/steps/upload.ts (engines imports steps)',
    'tasks/platform/y.ts -> tasks/run/graph.ts (platform imports run)',
  ]);
});
