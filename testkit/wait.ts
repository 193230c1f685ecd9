/** Waits until a condition about the server's state holds (polling, not a guessed sleep); fails after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const until = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}
