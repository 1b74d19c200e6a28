import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { InvalidInputError } from '../../src/domain/errors';
import { currentUserName, isRoot } from '../util/exec';

/** The OS account that owns and runs the lab's PostgreSQL servers: `postgres` under root, else us. */
export interface OsOwner {
  user: string;
  uid: number;
  gid: number;
}

export function labOsOwner(): OsOwner {
  if (!isRoot()) return { user: currentUserName(), uid: process.getuid!(), gid: process.getgid!() };
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { user: 'postgres', uid, gid };
  } catch {
    throw new InvalidInputError('PostgreSQL refuses to run as root and there is no `postgres` OS user: install the server (`apt-get install postgresql-15`, which creates it) or run the lab as an ordinary user');
  }
}

export function makeOwnedDir(path: string, owner: OsOwner, mode = 0o700): void {
  mkdirSync(path, { recursive: true, mode });
  chownSync(path, owner.uid, owner.gid);
}

export function writeOwnedFile(path: string, content: string, owner: OsOwner, mode = 0o600): void {
  writeFileSync(path, content, { mode });
  chownSync(path, owner.uid, owner.gid);
}
