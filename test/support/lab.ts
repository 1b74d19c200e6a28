import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Lab } from '../../harness/lab/lab';
import { LabOptions } from '../../harness/lab/layout';

/**
 * Each test file gets its own lab: its own state directory and its own loopback block
 * (127.<block>.x), so files never collide even if run side by side.
 */
export function testLabOptions(block: string): Partial<LabOptions> {
  process.env.PG_FAILOVER_QUIET = '1';
  return { stateDir: mkdtempSync(join(tmpdir(), 'pgfo-lab-')), addressBlock: block };
}

export async function startTestLab(block: string): Promise<Lab> {
  return Lab.up(testLabOptions(block));
}
