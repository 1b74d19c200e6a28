import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The VM a script runs "on", as the emulator's world knows it. */
export interface GuestVm {
  name: string;
  resourceId: string;
  privateIp: string;
}

export interface GuestRunOptions {
  /** Positional arguments ($1, $2, ...): Run Command passes parameter values this way too. */
  args: string[];
  /** Managed Run Command's timeoutInSeconds; the script is killed when it passes. */
  timeoutMs?: number;
  /** Aborted when the VM goes off: the script and everything it started are killed at once. */
  poweredOff?: AbortSignal;
}

export interface GuestResult {
  stdout: string;
  stderr: string;
  /** null when the script was killed. */
  exitCode: number | null;
  timedOut?: boolean;
}

/**
 * Runs a Run Command script on the machine that plays `vm`. The lab wires one that runs the
 * script against the PostgreSQL node of that VM; the default runs it right here.
 */
export type GuestExecutor = (vm: GuestVm, scriptText: string, env: Record<string, string>, options: GuestRunOptions) => Promise<GuestResult>;

/** Streams are kept to their last 1 MiB: Azure only ever returns the last 4 KiB anyway. */
const KEEP_BYTES = 1024 * 1024;

/**
 * Like the Linux Run Command extensions: the script is written to a file and run by bash as the
 * agent's user (root on a VM; whoever runs the emulator here), parameters as environment
 * variables and positional arguments. The environment is minimal and does not inherit the
 * emulator's own (which may hold test secrets): a VM's agent has its own clean environment too.
 */
export function createBashExecutor(options: { shell?: string; baseEnv?: Record<string, string> } = {}): GuestExecutor {
  const shell = options.shell ?? '/bin/bash';
  const baseEnv = options.baseEnv ?? { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8' };
  return async (vm, scriptText, env, run) => {
    if (run.poweredOff?.aborted) return wentOff('', '');
    const dir = await mkdtemp(join(tmpdir(), `pgfo-runcommand-${vm.name}-`));
    const file = join(dir, 'script.sh');
    try {
      await writeFile(file, scriptText, { mode: 0o700 });
      await chmod(file, 0o700);
      return await spawnScript(shell, file, run.args, { ...baseEnv, ...env }, dir, run.timeoutMs, run.poweredOff);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

function spawnScript(shell: string, file: string, args: string[], env: Record<string, string>, cwd: string, timeoutMs: number | undefined, poweredOff: AbortSignal | undefined): Promise<GuestResult> {
  return new Promise((resolve, reject) => {
    // detached: the script gets its own process group, so a timeout or a power-off kills everything it started.
    const child = spawn(shell, [file, ...args], { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout = new TailBuffer();
    const stderr = new TailBuffer();
    let timedOut = false;
    const killAll = () => {
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      killAll();
    }, timeoutMs);
    if (poweredOff?.aborted) killAll();
    else poweredOff?.addEventListener('abort', killAll, { once: true });
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      if (timer) clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      poweredOff?.removeEventListener('abort', killAll);
      if (poweredOff?.aborted && !timedOut) {
        resolve(wentOff(stdout.text(), stderr.text()));
        return;
      }
      resolve({ stdout: stdout.text(), stderr: stderr.text(), exitCode: timedOut ? null : code, ...(timedOut ? { timedOut } : {}) });
    });
  });
}

/** A run its VM's power-off ended (or that never started because the VM was off by then). */
function wentOff(stdout: string, stderr: string): GuestResult {
  return { stdout, stderr: `${stderr}the VM went off during the run: the script was killed with it\n`, exitCode: null };
}

class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > 2 * KEEP_BYTES) {
      const all = Buffer.concat(this.chunks);
      this.chunks = [all.subarray(all.length - KEEP_BYTES)];
      this.size = KEEP_BYTES;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - KEEP_BYTES)).toString('utf8');
  }
}
