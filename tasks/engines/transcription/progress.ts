// Progress of the transcribe step as a share of audio seconds done, with an estimate of the
// time left from the rate so far. Shown as the step's activity (the tree updates in place;
// plain mode throttles it). Updates arrive on every whisper progress line: rendered at most
// once a second.
import { formatEta } from '../../platform/format.ts';

export class ProgressTracker {
  private readonly done: number[];
  private readonly finished = new Set<number>();
  private firstStart?: number;
  private lastRender = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    /** Expected duration per episode (ms); replaced by the decoded duration once known. */
    private readonly totals: number[],
    private readonly show: (text: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.done = totals.map(() => 0);
  }

  start(index: number): void {
    this.firstStart ??= this.now();
    // Refresh the ETA even while whisper is between progress lines.
    this.timer ??= setInterval(() => this.render(true), 5_000).unref();
    this.render(true);
  }

  update(index: number, doneMs: number, totalMs: number): void {
    this.totals[index] = totalMs;
    this.done[index] = Math.min(doneMs, totalMs);
    this.render(false);
  }

  finish(index: number): void {
    this.finished.add(index);
    this.done[index] = this.totals[index] ?? 0;
    this.render(true);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  fraction(): number {
    const total = this.totals.reduce((a, b) => a + b, 0);
    return total > 0 ? this.done.reduce((a, b) => a + b, 0) / total : 0;
  }

  describeTotal(): string {
    return formatEta(this.totals.reduce((a, b) => a + b, 0));
  }

  /** "transcribing 2/5 · 43% of 1h12m audio · about 12m left" */
  describe(): string {
    const fraction = this.fraction();
    const parts = [
      `transcribing ${Math.min(this.finished.size + 1, this.totals.length)}/${this.totals.length}`,
      `${Math.floor(fraction * 100)}% of ${this.describeTotal()} audio`,
    ];
    if (this.firstStart !== undefined && fraction > 0.01) {
      const elapsed = this.now() - this.firstStart;
      parts.push(`about ${formatEta((elapsed / fraction) * (1 - fraction))} left`);
    }
    return parts.join(' · ');
  }

  private render(force: boolean): void {
    const now = this.now();
    if (!force && now - this.lastRender < 1000) return;
    this.lastRender = now;
    this.show(this.describe());
  }
}
