import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isRoot } from '../../util/exec';

/** Debian's packages for the peer: Patroni (3.0.x), its Raft library (not pulled in by patroni itself) and HAProxy. */
export const PEER_PACKAGES = ['patroni', 'haproxy', 'python3-pysyncobj'] as const;
export const INSTALL_HINT = `apt-get update && apt-get install -y ${PEER_PACKAGES.join(' ')}`;

export interface PeerTools {
  patroni: string;
  patronictl: string;
  haproxy: string;
}

export type PeerAvailability = { ok: true; tools: PeerTools; installed: string[] } | { ok: false; reason: string };

interface Outcome {
  code: number | null;
  output: string;
}

function exec(program: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(program, args, { timeout: timeoutMs, env, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** Debian's Patroni runs on the system interpreter (its shebang), not whatever python3 is first on PATH. */
const PYTHON = '/usr/bin/python3';
const PYSYNCOBJ_PROBE = ['-c', 'import pysyncobj'];

async function missingPackages(): Promise<string[]> {
  const missing: string[] = [];
  if (!existsSync('/usr/bin/patroni') || !existsSync('/usr/bin/patronictl')) missing.push('patroni');
  if ((await exec('haproxy', ['-v'], 10_000)).code !== 0) missing.push('haproxy');
  if ((await exec(PYTHON, PYSYNCOBJ_PROBE, 10_000)).code !== 0) missing.push('python3-pysyncobj');
  return missing;
}

/**
 * Finds Patroni, its Raft library and HAProxy; installs the missing ones from Debian when allowed
 * and running as root (apt-get update only if the first attempt cannot find a package). Never
 * throws: an unavailable peer is reported as such, so the benchmark can say so instead of a number.
 */
export async function ensurePeerTools(options: { install: boolean; say: (line: string) => void }): Promise<PeerAvailability> {
  const missing = await missingPackages();
  const tools: PeerTools = { patroni: '/usr/bin/patroni', patronictl: '/usr/bin/patronictl', haproxy: 'haproxy' };
  if (missing.length === 0) return { ok: true, tools, installed: [] };
  const debianPackages = missing.join(' ');
  if (!options.install) return { ok: false, reason: `missing ${debianPackages} (installing was turned off: run \`${INSTALL_HINT}\`)` };
  if (!isRoot()) return { ok: false, reason: `missing ${debianPackages}; not root, so not installing: run \`sudo ${INSTALL_HINT}\`` };
  if ((await exec('apt-get', ['--version'], 10_000)).code !== 0) return { ok: false, reason: `missing ${debianPackages} and there is no apt-get here: install Patroni 3, python3-pysyncobj and HAProxy yourself` };

  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => exec('apt-get', ['install', '-y', '--no-install-recommends', ...missing], 600_000, env);
  options.say(`  installing ${debianPackages} from Debian (apt-get install -y --no-install-recommends ${debianPackages})…`);
  let attempt = await install();
  if (attempt.code !== 0) {
    options.say('  apt-get install failed; running apt-get update and trying once more…');
    const update = await exec('apt-get', ['update'], 300_000, env);
    if (update.code !== 0) return { ok: false, reason: `apt-get update failed: ${tail(update.output)}; install by hand: ${INSTALL_HINT}` };
    attempt = await install();
  }
  if (attempt.code !== 0) return { ok: false, reason: `apt-get install ${debianPackages} failed: ${tail(attempt.output)}` };
  const still = await missingPackages();
  if (still.length > 0) return { ok: false, reason: `after apt-get install, still missing: ${still.join(' ')}` };
  return { ok: true, tools, installed: missing };
}

const tail = (text: string) => text.trim().split('\n').slice(-3).join(' | ');

/** `--version` style output of a tool, first line, or why it could not be read. */
export async function toolVersion(program: string, args: string[]): Promise<string> {
  const { code, output } = await exec(program, args, 15_000);
  const line = output.trim().split('\n')[0] ?? '';
  return code === 0 && line ? line.trim() : `unknown (${program} ${args.join(' ')} exited ${code ?? 'by signal'})`;
}

/** The Debian package version of a package, or undefined if it is not installed. */
export async function debianPackageVersion(name: string): Promise<string | undefined> {
  const { code, output } = await exec('dpkg-query', ['-W', '-f', '${Version}', name], 10_000);
  return code === 0 && output.trim() ? output.trim() : undefined;
}
