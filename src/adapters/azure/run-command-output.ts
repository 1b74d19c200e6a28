/**
 * What Azure returns from an action Run Command (RunShellScript) on Linux, once the operation
 * completes: `{value: [{code: "ProvisioningState/succeeded", message: "Enable succeeded: \n[stdout]\n<tail>\n[stderr]\n<tail>"}]}`.
 * The RunCommandLinux extension builds the message from the last 4096 bytes of each stream
 * (Azure/run-command-extension-linux, main/cmds.go: maxTailLen = 4*1024,
 * msg = "\n[stdout]\n%s\n[stderr]\n%s"). Windows VMs answer with separate StdOut/StdErr entries;
 * both shapes are read here. There is never an exit code.
 */
export interface CommandStreams {
  stdout: string;
  stderr: string;
}

export interface InstanceStatusLike {
  code?: string;
  message?: string;
}

const STDOUT_HEADER = '[stdout]\n';
const STDERR_SEPARATOR = '\n[stderr]\n';

export function streamsFromRunCommandResult(value: readonly InstanceStatusLike[] | undefined): CommandStreams {
  const statuses = value ?? [];
  const stdoutEntry = statuses.find((s) => /StdOut/i.test(s.code ?? ''));
  const stderrEntry = statuses.find((s) => /StdErr/i.test(s.code ?? ''));
  if (stdoutEntry || stderrEntry) return { stdout: stdoutEntry?.message ?? '', stderr: stderrEntry?.message ?? '' };
  return parseActionRunCommandMessage(statuses.map((s) => s.message ?? '').join('\n'));
}

/**
 * Splits "Enable succeeded: \n[stdout]\n...\n[stderr]\n..." into its streams. The split is at the
 * FIRST stderr separator after the stdout header: if stdout itself printed a "[stderr]" line, the
 * rest of stdout lands in stderr and the result marker is not found — a safe failure, never a
 * false success. Without any header (an extension-level failure, or a message cut short), the
 * whole text is treated as stderr so it shows up in the error.
 */
export function parseActionRunCommandMessage(message: string): CommandStreams {
  const headerAt = message.indexOf(STDOUT_HEADER);
  if (headerAt >= 0) {
    const rest = message.slice(headerAt + STDOUT_HEADER.length);
    const separatorAt = rest.indexOf(STDERR_SEPARATOR);
    if (separatorAt < 0) return { stdout: rest, stderr: '' };
    return { stdout: rest.slice(0, separatorAt), stderr: rest.slice(separatorAt + STDERR_SEPARATOR.length) };
  }
  const separatorAt = message.indexOf(STDERR_SEPARATOR);
  if (separatorAt >= 0) return { stdout: message.slice(0, separatorAt), stderr: message.slice(separatorAt + STDERR_SEPARATOR.length) };
  return { stdout: '', stderr: message };
}
