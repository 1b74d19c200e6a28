/**
 * Builds every .bicep file under bicep/ to ARM JSON (dist/bicep/) and lints it; any error or
 * linter warning fails the build.
 *
 * The Bicep CLI is found, in this order: $BICEP_BIN; `bicep` on PATH (or where `az bicep install`
 * puts it); the project cache .state/tools/bicep; else it is restored into that cache from the
 * NuGet package Azure.Bicep.CommandLine.<rid> with the .NET SDK (a throwaway restore project,
 * `dotnet restore --packages <cache>`). The second run finds the cached binary and costs nothing.
 *
 * Used by `npm run build:bicep` (this file run as a script) and by test/unit/bicep (imported).
 * Everything is synchronous on purpose: the tests choose `describe` or `describe.skip` while the
 * test file loads, which needs the answer "is there a Bicep CLI?" without awaiting.
 */
import { spawnSync, SpawnSyncReturns } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join, relative, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const BICEP_SOURCE_DIR = join(REPO_ROOT, 'bicep');
export const BICEP_CONFIG = join(BICEP_SOURCE_DIR, 'bicepconfig.json');
export const BICEP_OUT_DIR = join(REPO_ROOT, 'dist', 'bicep');
export const BICEP_CACHE_DIR = join(REPO_ROOT, '.state', 'tools', 'bicep');
/** Pinned so that the linter's verdict is the same on every machine; override with $BICEP_VERSION. */
export const BICEP_VERSION = process.env.BICEP_VERSION || '0.49.2';

export type BicepSource = 'env' | 'path' | 'cache' | 'restored';

export interface BicepTool {
  path: string;
  source: BicepSource;
}

export class BicepUnavailableError extends Error {}

export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  level: 'error' | 'warning' | 'info';
  code: string;
  message: string;
}

export interface BuildResult {
  ok: boolean;
  tool: BicepTool;
  /** Every diagnostic reported by `bicep build` and `bicep lint`, de-duplicated. */
  diagnostics: Diagnostic[];
  /** Output that is not a diagnostic line (a crash, an unknown flag...): any of it fails the build. */
  unparsed: string[];
  /** Source file (relative to the source dir) → compiled ARM JSON file. */
  outputs: Record<string, string>;
  /** Problems that are not diagnostics: non-zero exit, missing output. */
  failures: string[];
  elapsedMs: number;
}

export interface BuildOptions {
  sourceDir?: string;
  outDir?: string;
  /** bicepconfig.json to use instead of discovery; the project's by default, so temp files get the same rules. */
  config?: string;
  tool?: BicepTool;
  log?: (line: string) => void;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function runtimeIdentifier(): string | undefined {
  const arch = process.arch === 'x64' ? 'x64' : process.arch === 'arm64' ? 'arm64' : undefined;
  if (!arch) return undefined;
  if (process.platform === 'linux') return `linux-${arch}`;
  if (process.platform === 'darwin') return `osx-${arch}`;
  if (process.platform === 'win32') return `win-${arch}`;
  return undefined;
}

function binaryName(): string {
  return process.platform === 'win32' ? 'bicep.exe' : 'bicep';
}

/** Where the restored package keeps its binary (NuGet lower-cases ids in the packages folder). */
export function cachedBinaryPath(cacheDir = BICEP_CACHE_DIR, version = BICEP_VERSION): string | undefined {
  const rid = runtimeIdentifier();
  if (!rid) return undefined;
  return join(cacheDir, 'packages', `azure.bicep.commandline.${rid}`, version, 'tools', binaryName());
}

function findOnPath(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  dirs.push(join(homedir(), '.azure', 'bin')); // `az bicep install`
  for (const dir of dirs) {
    const candidate = join(dir, binaryName());
    if (existsSync(candidate) && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function restoreWithDotnet(cacheDir: string, version: string, log: (line: string) => void): string {
  const rid = runtimeIdentifier();
  if (!rid) throw new BicepUnavailableError(`no Bicep CLI package for ${process.platform}/${process.arch}`);
  const sdk = spawnSync('dotnet', ['--version'], { encoding: 'utf8' });
  if (sdk.error || sdk.status !== 0) {
    throw new BicepUnavailableError('no `bicep` on PATH, none cached in .state/tools/bicep, and no .NET SDK (`dotnet`) to restore the NuGet package Azure.Bicep.CommandLine.' + rid);
  }
  const major = /^(\d+)\./.exec(sdk.stdout.trim())?.[1] ?? '8';
  const packageId = `Azure.Bicep.CommandLine.${rid}`;
  log(`restoring ${packageId} ${version} from NuGet into ${relative(REPO_ROOT, cacheDir) || cacheDir} (dotnet ${sdk.stdout.trim()})`);
  // A throwaway project in its own temp dir: parallel restores (two jest workers) never share obj/.
  const projectDir = mkdtempSync(join(tmpdir(), 'bicep-restore-'));
  try {
    const project = join(projectDir, 'restore.csproj');
    writeFileSync(
      project,
      [
        '<Project Sdk="Microsoft.NET.Sdk">',
        `  <PropertyGroup><TargetFramework>net${major}.0</TargetFramework></PropertyGroup>`,
        `  <ItemGroup><PackageDownload Include="${packageId}" Version="[${version}]" /></ItemGroup>`,
        '</Project>',
        '',
      ].join('\n'),
    );
    mkdirSync(join(cacheDir, 'packages'), { recursive: true });
    const restore = spawnSync('dotnet', ['restore', project, '--packages', join(cacheDir, 'packages'), '--verbosity', 'quiet'], {
      encoding: 'utf8',
      env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1', DOTNET_NOLOGO: '1', DOTNET_SKIP_FIRST_TIME_EXPERIENCE: '1' },
      timeout: 10 * 60 * 1000,
    });
    if (restore.error || restore.status !== 0) {
      const output = `${restore.stdout ?? ''}${restore.stderr ?? ''}`.trim();
      throw new BicepUnavailableError(`dotnet restore of ${packageId} ${version} failed (${restore.error?.message ?? `exit ${restore.status}`}): ${output.slice(-2000)}`);
    }
  } finally {
    rmSync(projectDir, { recursive: true, force: true });
  }
  const binary = cachedBinaryPath(cacheDir, version);
  if (!binary || !existsSync(binary)) throw new BicepUnavailableError(`restored ${packageId} ${version} but found no ${binaryName()} at ${binary}`);
  chmodSync(binary, 0o755);
  return binary;
}

/** Finds (or restores) the Bicep CLI; throws BicepUnavailableError saying why there is none. */
export function locateBicep(options: { cacheDir?: string; version?: string; log?: (line: string) => void } = {}): BicepTool {
  const cacheDir = options.cacheDir ?? BICEP_CACHE_DIR;
  const version = options.version ?? BICEP_VERSION;
  const log = options.log ?? (() => undefined);
  const fromEnv = process.env.BICEP_BIN;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new BicepUnavailableError(`BICEP_BIN=${fromEnv} is not an executable file`);
    return { path: fromEnv, source: 'env' };
  }
  const onPath = findOnPath();
  if (onPath) return { path: onPath, source: 'path' };
  const cached = cachedBinaryPath(cacheDir, version);
  if (cached && existsSync(cached)) {
    if (!isExecutable(cached)) chmodSync(cached, 0o755);
    return { path: cached, source: 'cache' };
  }
  return { path: restoreWithDotnet(cacheDir, version, log), source: 'restored' };
}

/** Like locateBicep, but answers with the reason instead of throwing (for test skipping). */
export function probeBicep(): { tool: BicepTool } | { reason: string } {
  try {
    return { tool: locateBicep() };
  } catch (error) {
    return { reason: (error as Error).message };
  }
}

export function bicepVersion(tool: BicepTool): string {
  const result = spawnSync(tool.path, ['--version'], { encoding: 'utf8' });
  return /(\d+\.\d+\.\d+)/.exec(result.stdout ?? '')?.[1] ?? 'unknown';
}

// `<file>(<line>,<col>) : <Level> <code>: <message>`, the CLI's default diagnostics format.
const DIAGNOSTIC = /^(.*)\((\d+),(\d+)\) : (Error|Warning|Info) ([A-Za-z0-9-]+): (.*)$/;

export function parseDiagnostics(output: string): { diagnostics: Diagnostic[]; unparsed: string[] } {
  const diagnostics: Diagnostic[] = [];
  const unparsed: string[] = [];
  for (const raw of output.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (!line.trim()) continue;
    const match = DIAGNOSTIC.exec(line);
    if (!match) {
      unparsed.push(line);
      continue;
    }
    diagnostics.push({
      file: match[1],
      line: Number(match[2]),
      column: Number(match[3]),
      level: match[4].toLowerCase() as Diagnostic['level'],
      code: match[5],
      message: match[6],
    });
  }
  return { diagnostics, unparsed };
}

export function findBicepFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (current: string) => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const full = join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && entry.name.endsWith('.bicep')) found.push(relative(dir, full));
    }
  };
  walk(dir);
  return found.sort();
}

export function formatDiagnostic(d: Diagnostic, base = REPO_ROOT): string {
  return `${relative(base, d.file) || d.file}:${d.line}:${d.column} ${d.level} ${d.code}: ${d.message}`;
}

function run(tool: BicepTool, args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(tool.path, args, {
    cwd,
    encoding: 'utf8',
    timeout: 5 * 60 * 1000,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: '1' },
  });
}

/** Compiles every .bicep file under sourceDir into outDir (mirroring folders) and lints them. */
export function buildBicep(options: BuildOptions = {}): BuildResult {
  const started = Date.now();
  const sourceDir = resolve(options.sourceDir ?? BICEP_SOURCE_DIR);
  const outDir = resolve(options.outDir ?? BICEP_OUT_DIR);
  const config = options.config ?? BICEP_CONFIG;
  const log = options.log ?? (() => undefined);
  const tool = options.tool ?? locateBicep({ log });
  const files = findBicepFiles(sourceDir);
  const failures: string[] = [];
  const diagnostics: Diagnostic[] = [];
  const unparsed: string[] = [];
  const outputs: Record<string, string> = {};
  if (files.length === 0) failures.push(`no .bicep files under ${sourceDir}`);
  else {
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    // --no-restore: nothing here may reach a module registry. One process per command for all files.
    const common = ['--pattern', '**/*.bicep', '--no-restore', ...(config ? ['--config', config] : [])];
    const steps: Array<[string, string[]]> = [
      ['build', ['build', ...common, '--outdir', outDir]],
      ['lint', ['lint', ...common]],
    ];
    const seen = new Set<string>();
    for (const [name, args] of steps) {
      log(`bicep ${name} (${files.length} files)`);
      const result = run(tool, args, sourceDir);
      if (result.error) failures.push(`bicep ${name} could not run: ${result.error.message}`);
      else if (result.status !== 0) failures.push(`bicep ${name} exited with ${result.status ?? result.signal}`);
      const parsed = parseDiagnostics(`${result.stdout ?? ''}\n${result.stderr ?? ''}`);
      for (const d of parsed.diagnostics) {
        const key = `${d.file}|${d.line}|${d.column}|${d.code}|${d.message}`;
        if (seen.has(key)) continue;
        seen.add(key);
        diagnostics.push(d);
      }
      unparsed.push(...parsed.unparsed);
    }
    for (const file of files) {
      const output = join(outDir, file.replace(/\.bicep$/, '.json'));
      if (existsSync(output)) outputs[file] = output;
      else failures.push(`no ARM JSON was written for ${file}`);
    }
  }
  const blocking = diagnostics.filter((d) => d.level !== 'info');
  return {
    ok: failures.length === 0 && unparsed.length === 0 && blocking.length === 0,
    tool,
    diagnostics,
    unparsed,
    outputs,
    failures,
    elapsedMs: Date.now() - started,
  };
}

function main(argv: string[]): number {
  const flag = (name: string) => {
    const index = argv.indexOf(name);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const sourceDir = resolve(flag('--src') ?? BICEP_SOURCE_DIR);
  const outDir = resolve(flag('--out') ?? BICEP_OUT_DIR);
  const log = (line: string) => console.log(`[build:bicep] ${line}`);
  const started = Date.now();
  let tool: BicepTool;
  try {
    tool = locateBicep({ log });
  } catch (error) {
    console.error(`[build:bicep] no Bicep CLI: ${(error as Error).message}`);
    return 2;
  }
  log(`bicep ${bicepVersion(tool)} (${tool.source}: ${tool.path}) found in ${Date.now() - started} ms`);
  const result = buildBicep({ sourceDir, outDir, tool, log });
  for (const d of result.diagnostics) (d.level === 'info' ? console.log : console.error)(`  ${formatDiagnostic(d)}`);
  for (const line of result.unparsed) console.error(`  ${line}`);
  for (const failure of result.failures) console.error(`  ${failure}`);
  const counts = ['error', 'warning', 'info']
    .map((level) => [result.diagnostics.filter((d) => d.level === level).length, level] as const)
    .map(([n, level]) => `${n} ${level}${n === 1 ? '' : 's'}`)
    .join(', ');
  const built = Object.keys(result.outputs).length;
  if (result.ok) {
    log(`OK: ${built} files built into ${relative(REPO_ROOT, outDir) || outDir} and linted (${counts}) in ${Date.now() - started} ms`);
    return 0;
  }
  console.error(`[build:bicep] FAILED: ${counts}${result.unparsed.length ? `, ${result.unparsed.length} unexpected output lines` : ''}${result.failures.length ? `, ${result.failures.length} other failures` : ''}; warnings count as failures`);
  return 1;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
