/**
 * `npm run build:agent-bundle`: packs the agent (agent/ but its README) and the digests of the VM
 * scripts this app sends its node steps (vm-scripts.sha256: the agent runs no other) into
 * bicep/modules/cloud-init/agent-bundle.tar.xz, which the sample VMs' cloud-init carries as one
 * base64 file and unpacks into /usr/local/src/pg-failover-agent before running install.sh.
 * As text the agent no longer fits Azure's 64 KB of custom data; xz takes it to under a quarter
 * (a tenth less than gzip -9, which left too little room; cloud-init installs xz-utils first).
 *
 * The bundle is committed (a deployment from a fresh clone needs it); test/unit/bicep checks that
 * it holds exactly these files, byte for byte, so a change to agent/ without a rebuild fails there.
 * Deterministic: sorted names, owner root, mtime 0, fixed modes, xz single-threaded (one block).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { vmScriptDigests } from '../src/vm-scripts/catalogue';

const ROOT = resolve(__dirname, '..');
const AGENT_DIR = join(ROOT, 'agent');
export const AGENT_BUNDLE = join(ROOT, 'bicep', 'modules', 'cloud-init', 'agent-bundle.tar.xz');
/** The one directory the bundle holds: install.sh expects its files side by side. */
export const AGENT_BUNDLE_DIR = 'pg-failover-agent';
const LEFT_OUT = new Set(['README.md']);
/** Beside install.sh in the bundle: vmScriptDigests() (agent/node_agent/steps.py read_digests). */
export const SCRIPT_DIGESTS_FILE = 'vm-scripts.sha256';

/** The bundle's files, relative to agent/ (and to AGENT_BUNDLE_DIR in the bundle), sorted. */
export function agentBundleFiles(): string[] {
  return readdirSync(AGENT_DIR, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.pyc'))
    .map((entry) => relative(AGENT_DIR, join(entry.parentPath, entry.name)))
    .filter((file) => !LEFT_OUT.has(file))
    .sort();
}

export function buildAgentBundle(): Buffer {
  const generated = mkdtempSync(join(tmpdir(), 'pgfo-agent-bundle-'));
  try {
    writeFileSync(join(generated, SCRIPT_DIGESTS_FILE), vmScriptDigests());
    return execFileSync('xz', ['--compress', '--stdout', '-9e', '--threads=1', '--check=crc64'], { input: tarOf(generated), maxBuffer: 16 * 1024 * 1024 });
  } finally {
    rmSync(generated, { recursive: true, force: true });
  }
}

function tarOf(generated: string): Buffer {
  return execFileSync(
    'tar',
    [
      '--create',
      '--format=ustar',
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      // One mode whatever the checkout's: cloud-init runs install.sh with bash, which sets the installed modes.
      '--mode=0644',
      `--transform=s,^,${AGENT_BUNDLE_DIR}/,`,
      '--directory',
      AGENT_DIR,
      '--no-recursion',
      ...agentBundleFiles(),
      '--directory',
      generated,
      SCRIPT_DIGESTS_FILE,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
}

if (require.main === module) {
  const bundle = buildAgentBundle();
  writeFileSync(AGENT_BUNDLE, bundle);
  console.log(`${relative(ROOT, AGENT_BUNDLE)}: ${agentBundleFiles().length} files, ${bundle.length} bytes`);
}
