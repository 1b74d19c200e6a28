/** The `Disposable` the worker hands back from registerFunction/registerHook. */
export class Disposable {
  private onDispose: (() => void) | undefined;

  constructor(onDispose: () => void) {
    this.onDispose = onDispose;
  }

  dispose(): void {
    const callback = this.onDispose;
    this.onDispose = undefined;
    callback?.();
  }
}
