// Test and benchmark data: deterministic bytes, their MD5, and the MD5s of a whole tree.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { mapPool } from '../../tasks/platform/limiter.ts';

export function md5(body: string | Buffer): string {
  return createHash('md5').update(body).digest('hex');
}

/** Deterministic pseudo-random bytes (incompressible, distinct per seed). */
export function bytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil(size / 4) * 4);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    // xorshift32
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  return out.subarray(0, size);
}

/** key ('/'-separated, relative to `dir`) -> md5 of every file under `dir`; a missing folder is empty. */
export async function fileDigests(dir: string, options: { skipDotFiles?: boolean } = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return out;
  }
  const files = entries.filter((e) => e.isFile() && !(options.skipDotFiles && e.name.startsWith('.')));
  await mapPool(files, 16, async (e) => {
    const full = path.join(e.parentPath, e.name);
    out.set(path.relative(dir, full).split(path.sep).join('/'), md5(await readFile(full)));
  });
  return out;
}
