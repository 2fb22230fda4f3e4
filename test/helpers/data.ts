// Test and benchmark data: deterministic bytes and their MD5.
import { createHash } from 'node:crypto';

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
