/** Platform limits on Run Command output, as the Linux extensions implement them. */
export const OUTPUT_TAIL_BYTES = 4096;

/** The last `maxBytes` bytes of `text` (cut on a byte boundary, as the extension does). */
export function tailBytes(text: string, maxBytes: number = OUTPUT_TAIL_BYTES): string {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= maxBytes ? text : bytes.subarray(bytes.length - maxBytes).toString('utf8');
}

/**
 * The message of an action Run Command on Linux. The RunCommandLinux extension keeps the last
 * 4096 bytes of each stream and reports "\n[stdout]\n%s\n[stderr]\n%s"; the platform prefixes
 * "Enable succeeded: " (Azure/run-command-extension-linux main/cmds.go; sample responses in
 * Azure/azure-cli#9923).
 */
export function actionRunCommandMessage(stdout: string, stderr: string): string {
  return `Enable succeeded: \n[stdout]\n${tailBytes(stdout)}\n[stderr]\n${tailBytes(stderr)}`;
}
