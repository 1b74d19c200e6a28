import type { NodeConfig } from '../config/schema';
import type { ScriptResultData } from '../domain/script-result';
import type { SecretValue } from '../domain/secret-value';

/** The VM a command runs on: the node's name (for messages) and its ARM id (for the call). */
export type VmRef = Pick<NodeConfig, 'name' | 'vmResourceId'>;

/** A shell script kept as a product file; `name` identifies it in logs, errors and run names. */
export interface ShellScript {
  name: string;
  text: string;
}

/**
 * Plain parameters: visible to anyone who can read the VM's Run Command history, so never a
 * secret. Names must be shell variable names: the platform exports them as environment
 * variables (and also passes the values as positional arguments, in order).
 */
export type PlainParameters = Readonly<Record<string, string>>;

/** Secrets travel only as protected parameters (managed Run Command); names as above. */
export type SecretParameters = Readonly<Record<string, SecretValue>>;

export interface VmCommandRequest {
  script: ShellScript;
  parameters?: PlainParameters;
  /** Managed Run Command only (the action API has no timeout; it runs up to 90 minutes). */
  timeoutSeconds?: number;
  /**
   * Which Run Command API carries a secret-free call; default 'action'. Action Run Command
   * passes values by prepending shell lines to the script, so values with spaces or shell
   * characters are refused there: send those via 'managed', which sets them exactly.
   */
  via?: 'action' | 'managed';
}

export interface VmCommandWithSecretsRequest extends VmCommandRequest {
  secrets: SecretParameters;
}

/** A script that printed `PGFO_RESULT {"ok":true,...}` last. */
export interface VmCommandOutcome {
  result: ScriptResultData;
  stdoutTail: string;
  stderrTail: string;
  /** Only the managed API reports one. */
  exitCode: number | undefined;
  via: 'action' | 'managed';
}

/**
 * Runs product shell scripts on the cluster's VMs. A script that does not report ok:true
 * rejects with VmScriptFailedError; a VM kept busy by another Run Command is waited for.
 *
 * Secrets have their own method on purpose: `run` has no way to take one (a SecretValue is not
 * a string), and `runWithSecrets` sends them only as protected parameters.
 */
export interface VmCommands {
  /** Action Run Command: the fast, simple path for scripts that need no secret. */
  run(vm: VmRef, request: VmCommandRequest): Promise<VmCommandOutcome>;
  /** Managed Run Command with protectedParameters; the run is deleted afterwards. */
  runWithSecrets(vm: VmRef, request: VmCommandWithSecretsRequest): Promise<VmCommandOutcome>;
}
