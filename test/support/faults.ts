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
    return this.bash(vm, scriptText, env, run);
  };
}
