import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { findPgBinDir } from '../../../harness/lab/pg-binaries';
import { InvalidInputError } from '../../../src/domain/errors';

describe('finding the PostgreSQL server binaries', () => {
  it('uses PG_BIN when it holds the server binaries', () => {
    const found = findPgBinDir({});
    expect(findPgBinDir({ PG_BIN: found })).toBe(found);
  });

  it('refuses a PG_BIN without them, saying what to do', () => {
    const empty = mkdtempSync(join(tmpdir(), 'pgfo-bin-'));
    expect(() => findPgBinDir({ PG_BIN: empty })).toThrow(InvalidInputError);
    expect(() => findPgBinDir({ PG_BIN: empty })).toThrow(/does not hold the PostgreSQL server binaries .* unset it/);
  });
});
