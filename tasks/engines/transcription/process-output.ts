// Child-process output that never piles up in memory: only the tail of each stream is kept
// (what an error message quotes), and lines are handed to a parser as they arrive. The
// implementation lives with runProcess (tasks/platform/process.ts); tailStore is its zx form.
import { forEachLine, TailChunks } from '../../platform/process.ts';

export { forEachLine };

type Chunk = string | Buffer;

function tail(limit: number): TailChunks<Chunk> {
  const chunks = new TailChunks<Chunk>();
  chunks.limit = limit;
  return chunks;
}

/** A zx `store` keeping at most `limit` bytes per stream. */
export function tailStore(limit = 64 * 1024): { stdout: Chunk[]; stderr: Chunk[]; stdall: Chunk[] } {
  return { stdout: tail(limit), stderr: tail(limit), stdall: tail(limit) };
}
