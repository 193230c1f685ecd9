/**
 * At most `size` pieces of work at once: add() waits for room. The first failure is kept and thrown
 * by the next add(), throwIfFailed() or drain(), so the job stops at once instead of reading on.
 */
export class ChunkWindow {
  private readonly running = new Set<Promise<void>>();
  private failure: { error: unknown } | null = null;

  constructor(private readonly size: number) {}

  async add(work: () => Promise<void>) {
    while (this.running.size >= this.size && !this.failure) await Promise.race(this.running);
    this.throwIfFailed();
    const done: Promise<void> = work()
      .catch((error) => {
        this.failure ??= { error };
      })
      .finally(() => this.running.delete(done));
    this.running.add(done);
  }

  throwIfFailed() {
    if (this.failure) throw this.failure.error;
  }

  /** Waits for everything added; throws the first failure. */
  async drain() {
    await Promise.all(this.running);
    this.throwIfFailed();
  }
}
