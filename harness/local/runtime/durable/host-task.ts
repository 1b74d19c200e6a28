/**
 * A minimal task whose continuations run synchronously when it settles. DurableTask.Core replays an
 * orchestration on a single-threaded scheduler: when a history event completes a task, the code
 * awaiting it runs (and may schedule more work, taking sequence numbers) before the next history
 * event is processed. Synchronous continuations reproduce that ordering exactly.
 */
export class HostTask {
  private state: 'pending' | 'succeeded' | 'failed' = 'pending';
  private continuations: Array<() => void> = [];

  get isSettled(): boolean {
    return this.state !== 'pending';
  }

  get succeeded(): boolean {
    return this.state === 'succeeded';
  }

  settle(succeeded: boolean): void {
    if (this.state !== 'pending') return;
    this.state = succeeded ? 'succeeded' : 'failed';
    const continuations = this.continuations;
    this.continuations = [];
    for (const continuation of continuations) continuation();
  }

  onSettled(continuation: () => void): void {
    if (this.isSettled) continuation();
    else this.continuations.push(continuation);
  }

  static settled(succeeded = true): HostTask {
    const task = new HostTask();
    task.settle(succeeded);
    return task;
  }

  /** Like .NET Task.WhenAll: settles once every child has settled (not on the first failure). */
  static whenAll(children: HostTask[]): HostTask {
    const all = new HostTask();
    let remaining = children.length;
    if (remaining === 0) all.settle(true);
    for (const child of children) {
      child.onSettled(() => {
        remaining -= 1;
        if (remaining === 0) all.settle(children.every((c) => c.succeeded));
      });
    }
    return all;
  }

  /** Like .NET Task.WhenAny: settles (successfully) when the first child settles. */
  static whenAny(children: HostTask[]): HostTask {
    const any = new HostTask();
    for (const child of children) child.onSettled(() => any.settle(true));
    return any;
  }
}
