/**
 * Delays that the emulator's stop() can cancel; zero still yields to the event loop, like a real
 * round trip. Tests can also hold every delay open (`hold`) to keep operations "in progress"
 * for exactly as long as they need, without guessing durations.
 */
export class Timers {
  private readonly pending = new Set<NodeJS.Timeout>();
  private stopped = false;
  private held: Promise<void> | undefined;

  async after(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      if (this.stopped) return;
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        resolve();
      }, Math.max(0, ms));
      this.pending.add(timer);
    });
    while (this.held) await this.held;
  }

  /** Until the returned release() is called, no emulated delay ends. */
  hold(): () => void {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    this.held = held;
    return () => {
      if (this.held === held) this.held = undefined;
      release();
    };
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
  }
}
