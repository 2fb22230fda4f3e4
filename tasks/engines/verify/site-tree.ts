// Every file under a site folder, dot-files and temporaries included: what `verify` looks at
// for leftovers the sync scan deliberately skips. Read-only.
import { readdir } from 'node:fs/promises';
import path from 'node:path';

/** Keys ('/'-separated, relative to `siteDir`) of every regular file, sorted; a missing folder is empty. */
export async function siteTree(siteDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(siteDir, { withFileTypes: true, recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const keys = entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(siteDir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).split(path.sep).join('/'));
  return keys.sort();
}
