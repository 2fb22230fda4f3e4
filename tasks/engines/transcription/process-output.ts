// Child-process output that never piles up in memory: zx keeps only the tail of each stream
// (what an error message quotes), and lines are handed to a parser as they arrive.
import type { Readable } from 'node:stream';

type Chunk = string | Buffer;

/** An array that keeps its last `limit` bytes: zx's store pushes every chunk into it. */
class TailChunks extends Array<Chunk> {
  // Array methods that build new arrays (map, slice...) must build plain ones.
  static override get [Symbol.species]() {
    return Array;
  }
  private bytes = 0;
  limit = 64 * 1024;

  override push(...items: Chunk[]): number {
    for (const item of items) {
      super.push(item);
      this.bytes += item.length;
      while (this.bytes > this.limit && this.length > 1) this.bytes -= this.shift()!.length;
    }
    return this.length;
  }
}

function tail(limit: number): TailChunks {
  const chunks = new TailChunks();
  chunks.limit = limit;
  return chunks;
}

/** A zx `store` keeping at most `limit` bytes per stream. */
export function tailStore(limit = 64 * 1024): { stdout: Chunk[]; stderr: Chunk[]; stdall: Chunk[] } {
  return { stdout: tail(limit), stderr: tail(limit), stdall: tail(limit) };
}

/** Call `onLine` for each complete line of `stream`; only a partial line is ever held. */
export function forEachLine(stream: Readable, onLine: (line: string) => void): void {
  let pending = '';
  stream.on('data', (data: Buffer | string) => {
    pending += data.toString();
    const lines = pending.split(/\r?\n|\r/);
    pending = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => {
    if (pending) onLine(pending);
    pending = '';
  });
}
