import { setTimeout as sleep } from 'node:timers/promises';
import { createBashExecutor, GuestExecutor } from '../../harness/local/azure-emulator';
import { VmScriptName } from '../../src/vm-scripts/catalogue';

/** The catalogue sends lib.sh then the script, under a banner naming it. */
const isScript = (text: string, name: VmScriptName) => new RegExp(`^# =+ ${name}\\.sh$`, 'm').test(text);

/**
 * A Run Command guest that runs the real scripts, except that a test can break one script on one
 * VM: every run of it then fails the way a broken VM agent would (no output, no result line), so
 * activity retries do not paper over it.
 */
export class FaultyGuest {
  private readonly broken: { vm: string; script: VmScriptName }[] = [];
  /** Every run that was made to fail. */
  readonly failures: { vm: string; script: VmScriptName }[] = [];
  private readonly bash = createBashExecutor();

  private readonly watchers: { vm: string; script: VmScriptName; then: () => void }[] = [];

  /** Calls `then` once, after the next run of `script` on `vm` finished. */
  afterScript(vm: string, script: VmScriptName, then: () => void): void {
    this.watchers.push({ vm, script, then });
  }

  private readonly slow: { vm: string; script: VmScriptName; delayMs: number }[] = [];

  /**
   * Every run of `script` on `vm` waits `delayMs` before it starts its work, as a rejoin that has
   * a big database to copy takes long; the VM stays busy with it meanwhile. Returns the undo.
   */
  slowScript(vm: string, script: VmScriptName, delayMs: number): () => void {
    const entry = { vm, script, delayMs };
    this.slow.push(entry);
    return () => {
      if (this.slow.includes(entry)) this.slow.splice(this.slow.indexOf(entry), 1);
    };
  }

  breakScript(vm: string, script: VmScriptName): void {
    this.broken.push({ vm, script });
  }

  repairAll(): void {
    this.broken.length = 0;
  }

  readonly executor: GuestExecutor = async (vm, scriptText, env, run) => {
    const fault = this.broken.find((f) => f.vm === vm.name && isScript(scriptText, f.script));
    if (fault) {
      this.failures.push(fault);
      return { stdout: '', stderr: `injected failure of ${fault.script} on ${vm.name}\n`, exitCode: 1 };
    }
    const delayMs = this.slow.filter((s) => s.vm === vm.name && isScript(scriptText, s.script)).reduce((sum, s) => sum + s.delayMs, 0);
    if (delayMs) await sleep(delayMs, undefined, { signal: run.poweredOff }).catch(() => undefined);
    // A VM that went off during the delay runs nothing (the bash executor starts no script then).
    const result = await this.bash(vm, scriptText, env, run);
    for (const watcher of this.watchers.filter((w) => w.vm === vm.name && isScript(scriptText, w.script))) {
      this.watchers.splice(this.watchers.indexOf(watcher), 1);
      watcher.then();
    }
    return result;
  };
}
