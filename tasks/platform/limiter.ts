// Weighted semaphore shared by every site: one for CPU-heavy work (weight = threads),
// one for network transfers. listr2's `concurrent` is per list, so limits live here.

/** The run's shared limiters. */
export interface Limits {
  /** CPU-heavy work (whisper); weight = threads used. Capacity = cores. */
  cpu: Limiter;
  /** Network transfers (S3 objects, episode downloads). */
  network: Limiter;
  /** One limiter per host for episode downloads, shared by every site of the run (podcast hosts throttle parallel clients). */
  perHost: (url: string) => Limiter;
}

/** A limiter per host name, made on first use, `capacity` slots each. */
export function hostLimiters(capacity: number): (url: string) => Limiter {
  const byHost = new Map<string, Limiter>();
  return (url) => {
    const host = new URL(url).host.toLowerCase();
    let limiter = byHost.get(host);
    if (!limiter) byHost.set(host, (limiter = new Limiter(`host ${host}`, capacity)));
    return limiter;
  };
}

export class Limiter {
  private used = 0;
  private readonly waiters: { weight: number; resolve: () => void }[] = [];

  constructor(
    readonly name: string,
    readonly capacity: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`limiter ${name}: capacity must be >= 1`);
  }

  get inUse(): number {
    return this.used;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Whether a call of this weight would wait now. */
  wouldWait(weight = 1): boolean {
    return this.waiters.length > 0 || this.used + Math.min(weight, this.capacity) > this.capacity;
  }

  /** Run `fn` holding `weight` slots (clamped to capacity); the slots are released even on error. */
  async use<T>(fn: () => Promise<T>, options: { weight?: number; signal?: AbortSignal } = {}): Promise<T> {
    const weight = Math.min(Math.max(1, options.weight ?? 1), this.capacity);
    await this.acquire(weight, options.signal);
    try {
      return await fn();
    } finally {
      this.release(weight);
    }
  }

  private acquire(weight: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.waiters.length === 0 && this.used + weight <= this.capacity) {
      this.used += weight;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        weight,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(signal?.reason ?? new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private release(weight: number): void {
    this.used -= weight;
    // FIFO: the head waits until it fits, so a heavy job is not starved by light ones.
    while (this.waiters.length > 0) {
      const head = this.waiters[0]!;
      if (this.used + head.weight > this.capacity) break;
      this.waiters.shift();
      this.used += head.weight;
      head.resolve();
    }
  }
}

/** Run `fn` over `items` with at most `concurrency` in flight; results keep input order. */
export async function mapPool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  });
  await Promise.all(workers);
  return results;
}
