/**
 * `npm run package`: builds the zip Azure runs, and nothing else — the compiled app (dist/app: src,
 * orchestrations, activities, the VM scripts beside their catalogue), host.json, package.json and
 * the production node_modules. The development harness, the CLI, tests and sources stay out.
 * Deploy the zip with `az functionapp deployment source config-zip` (README, "Deploy").
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..');
const STAGING = join(ROOT, 'dist', 'package');
export const PACKAGE_ZIP = join(ROOT, 'dist', 'azure-pg-failover.zip');

/** The package.json fields the Functions host and npm need; scripts and dev tooling stay behind. */
const MANIFEST_FIELDS = ['name', 'version', 'description', 'license', 'private', 'main', 'engines', 'dependencies'] as const;

function run(command: string, args: string[], cwd: string): void {
  execFileSync(command, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
}

function requireTool(tool: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`npm run package needs the '${tool}' command (Debian: apt-get install ${tool})`);
  }
}

export function buildPackage(): string {
  requireTool('zip');
  run('npm', ['run', '--silent', 'build'], ROOT);

  rmSync(STAGING, { recursive: true, force: true });
  rmSync(PACKAGE_ZIP, { force: true });
  mkdirSync(STAGING, { recursive: true });
  cpSync(join(ROOT, 'dist', 'app'), join(STAGING, 'dist', 'app'), { recursive: true });
  cpSync(join(ROOT, 'host.json'), join(STAGING, 'host.json'));
  cpSync(join(ROOT, 'package-lock.json'), join(STAGING, 'package-lock.json'));

  // npm ci checks package.json against the lock file, so it installs from the full manifest;
  // the trimmed one is written after.
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(STAGING, 'package.json'), JSON.stringify(manifest, null, 2));
  run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], STAGING);
  const deployed = Object.fromEntries(MANIFEST_FIELDS.filter((field) => field in manifest).map((field) => [field, manifest[field]]));
  writeFileSync(join(STAGING, 'package.json'), `${JSON.stringify(deployed, null, 2)}\n`);
  rmSync(join(STAGING, 'node_modules', '.package-lock.json'), { force: true });

  const main = join(STAGING, String(manifest.main));
  if (!existsSync(main)) throw new Error(`package.json "main" (${String(manifest.main)}) is not in the package`);
  run('zip', ['-q', '-r', '-X', PACKAGE_ZIP, '.'], STAGING);
  return PACKAGE_ZIP;
}

if (require.main === module) {
  process.stdout.write(`${buildPackage()}\n`);
}
