import { ErrorContext, FailoverError } from '../domain/errors';
import type { ScriptResultData } from '../domain/script-result';

/**
 * A script ran on a VM but did not report success: no result line (it died part-way, or its
 * output was lost), a malformed one, `ok: false`, or a non-zero exit code where the platform
 * reports one. Carries what an operator needs to see why, without logging into the VM.
 */
export class VmScriptFailedError extends FailoverError {
  readonly vm: string;
  readonly script: string;
  /** The end of the script's stderr, as the platform returned it (at most a few KiB). */
  readonly stderrTail: string;
  readonly stdoutTail: string;
  readonly exitCode: number | undefined;
  /** The script's own result object when it printed one with ok:false. */
  readonly result: ScriptResultData | undefined;

  constructor(
    message: string,
    details: { vm: string; script: string; stdoutTail: string; stderrTail: string; exitCode?: number; result?: ScriptResultData },
    context: ErrorContext = {},
  ) {
    super(message, { ...context, node: details.vm, step: context.step ?? details.script, ...(details.exitCode === undefined ? {} : { exitCode: details.exitCode }) });
    this.vm = details.vm;
    this.script = details.script;
    this.stderrTail = details.stderrTail;
    this.stdoutTail = details.stdoutTail;
    this.exitCode = details.exitCode;
    this.result = details.result;
  }

  toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), stderrTail: this.stderrTail, result: this.result };
  }
}

/** Another Run Command kept the VM busy for longer than we were willing to wait; ours did not run. */
export class VmCommandBusyError extends FailoverError {}

/**
 * Azure refused the Run Command (VM stopped, not found, no permission) or the call broke off.
 * When it broke off after Azure accepted it, the script may still have run: scripts are
 * idempotent for this reason.
 */
export class VmCommandError extends FailoverError {}

/** No TLS connection to the node's agent in time and no refusal: its VM may be off or gone (or the agent hung, or the path is blocked). */
export class NodeAgentSilentError extends FailoverError {}

/** An action Run Command did not end within the caller's answerWithinSeconds; it may still run later. */
export class VmCommandUnansweredError extends VmCommandError {}

/**
 * A started Run Command is not there (any more): an earlier poll read its end and deleted it, or
 * someone else deleted it. Its result is not known.
 */
export class VmCommandRunNotFoundError extends FailoverError {}

/** A call would have put a secret where it is visible (plain parameters or script text); nothing was sent. */
export class SecretExposureRefusedError extends FailoverError {}

/** The load balancer pools could not be brought to the wanted state (conflicts kept winning, or the result did not stick). */
export class LoadBalancerUpdateError extends FailoverError {}

/** A secret the configuration names does not exist in Key Vault. */
export class SecretNotFoundError extends FailoverError {}

/** Key Vault could not be read (network, permissions); the secret's value is never part of the message. */
export class SecretStoreError extends FailoverError {}

/** Azure refused or failed a power operation on a VM. */
export class FencingError extends FailoverError {}
