/**
 * The bound on texts in the service (accepted and not yet answered): a request that would pass it
 * is refused whole, at once, instead of queueing without bound. Drain waits on `whenIdle`.
 */
export class Admission {
  private pending = 0;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(readonly limit: number) {}

  /** Texts accepted and not yet answered. */
  get pendingTexts(): number {
    return this.pending;
  }

  /** Takes `texts` places if they fit; false (nothing taken) if they would pass the limit. */
  tryAdmit(texts: number): boolean {
    if (this.pending + texts > this.limit) return false;
    this.pending += texts;
    return true;
  }

  release(texts: number) {
    this.pending -= texts;
    if (this.pending === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
  }

  /** True once nothing is pending; false if that takes longer than timeoutMs. */
  async whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.pending === 0) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const result = await Promise.race([idle, late]);
    clearTimeout(timer);
    return result;
  }
}
