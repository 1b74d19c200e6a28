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
   * Action Run Command: give up waiting past this many seconds (VmCommandUnansweredError). A VM
   * whose guest agent is gone (a failed host ARM still calls running) never takes a run up, and
   * Azure ends it only after 90 minutes; the run may still happen later.
   */
  answerWithinSeconds?: number;
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
  /** The managed API and the node agent report one. */
  exitCode: number | undefined;
  via: 'action' | 'managed' | 'agent';
}

/**
 * A script that may run longer than one function execution may last (host.json functionTimeout,
 * docs/azure-platform.md item 4): started as a managed Run Command with asyncExecution and left
 * running on the VM; the caller polls it (an orchestration, with durable timers).
 */
export interface VmCommandStartRequest {
  script: ShellScript;
  parameters?: PlainParameters;
  /** Protected parameters only, as with runWithSecrets. */
  secrets?: SecretParameters;
  /** The script's own bound: Azure ends it past this (executionState TimedOut). */
  timeoutSeconds: number;
  /**
   * The Run Command resource's name (letters, digits, '-', '_', '.'; at most 80). It must be the
   * same for every attempt at one logical run: a retried start then finds the run its earlier
   * attempt started instead of starting a second script.
   */
  runName: string;
}

/** A started run: plain data, so it can travel through an orchestration's history. */
export interface VmCommandRun {
  /** The node's name, for messages. */
  vm: string;
  script: string;
  runName: string;
  timeoutSeconds: number;
  /** Started on the node's agent (its id is `runName`); absent: a managed Run Command. */
  via?: 'agent';
}

/** How a started run is doing: still going, or ended with a judged outcome. */
export type VmCommandProgress = { done: false; executionState: string } | { done: true; outcome: VmCommandOutcome };

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
  /**
   * Starts a managed Run Command with asyncExecution and returns once the platform accepted it,
   * without waiting for the script. Idempotent by `runName`: when a run of that name exists it is
   * left alone and returned (it is never started twice).
   */
  start(vm: VmRef, request: VmCommandStartRequest): Promise<VmCommandRun>;
  /**
   * One look at a started run. Still running: `done: false`. Ended: its result is judged as `run`
   * judges it (VmScriptFailedError for a failing script) and the run is deleted. No run of that
   * name (e.g. an earlier poll read and deleted it): VmCommandRunNotFoundError.
   */
  poll(vm: VmRef, run: VmCommandRun): Promise<VmCommandProgress>;
  /**
   * The node's own agent only, never Run Command: undefined when there are no agents or this one
   * did not run it (refused the connection or the request). NodeAgentSilentError when no TLS
   * connection came about and nothing refused it: the VM may be off or its host gone, where a Run
   * Command would not be taken up (or the agent hung, or the path is blocked). For a question whose "no answer" is better settled by ARM's power state than
   * by a Run Command on a VM that may be off.
   */
  askNodeAgent?(vm: VmRef, request: VmCommandRequest): Promise<VmCommandOutcome | undefined>;
}
