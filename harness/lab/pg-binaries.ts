import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { InvalidInputError } from '../../src/domain/errors';

const REQUIRED = ['initdb', 'pg_ctl', 'pg_basebackup', 'pg_rewind', 'pg_controldata', 'postgres'];

const hasServerBinaries = (dir: string) => REQUIRED.every((tool) => existsSync(join(dir, tool)));

function fromPgConfig(): string | undefined {
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function newestDebianBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => join(root, v, 'bin')).find(hasServerBinaries);
}

/** The PostgreSQL server binaries: PG_BIN, else `pg_config --bindir`, else the newest Debian install. */
export function findPgBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.PG_BIN;
  if (explicit) {
    if (hasServerBinaries(explicit)) return explicit;
    throw new InvalidInputError(`PG_BIN=${explicit} does not hold the PostgreSQL server binaries (${REQUIRED.join(', ')}); point it at e.g. /usr/lib/postgresql/15/bin or unset it`);
  }
  const candidate = [fromPgConfig(), newestDebianBinDir()].find((dir): dir is string => !!dir && hasServerBinaries(dir));
  if (candidate) return candidate;
  throw new InvalidInputError(
    'PostgreSQL server binaries not found (looked at PG_BIN, `pg_config --bindir` and /usr/lib/postgresql/*/bin). ' +
      'Install them with `sudo apt-get install postgresql-15` (Debian/Ubuntu) or set PG_BIN to the directory holding initdb and pg_ctl.',
  );
}
