import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';

export class CommandFailedError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
    this.name = 'CommandFailedError';
  }
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Run as this OS user (only possible, and only needed, when we are root). */
  asUser?: string;
}

export const isRoot = (): boolean => process.getuid?.() === 0;
export const currentUserName = (): string => userInfo().username;

/** Runs a program without a shell (arguments are never interpreted) and returns its stdout. */
export function run(program: string, args: string[], options: RunOptions = {}): Promise<string> {
  const [file, argv] = options.asUser && isRoot() ? ['runuser', ['-u', options.asUser, '--', program, ...args]] : [program, args];
  return new Promise((resolve, reject) => {
    execFile(
      file,
      argv,
      { env: { ...process.env, ...options.env }, cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const code = typeof error.code === 'number' ? error.code : null;
          reject(new CommandFailedError(`${program} ${args.join(' ')}`, code, `${stderr}${error.killed ? ' (killed: timeout)' : ''}`));
        } else resolve(stdout);
      },
    );
  });
}
