import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceState } from './instance-state';

/**
 * JSON files under `<stateDir>/instances/`, one per instance, written atomically (temp file then
 * rename) so a runtime killed mid-write leaves the previous version intact. Writes are synchronous:
 * files are small, and ordering between an episode's commit and the work it dispatches matters more
 * than throughput here.
 */
export class InstanceStore {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'instances');
    mkdirSync(this.dir, { recursive: true });
  }

  loadAll(): InstanceState[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as InstanceState);
  }

  save(state: InstanceState): void {
    const file = this.fileOf(state.instanceId);
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(state, null, 1));
    renameSync(temp, file);
  }

  delete(instanceId: string): void {
    rmSync(this.fileOf(instanceId), { force: true });
  }

  private fileOf(instanceId: string): string {
    return join(this.dir, `${encodeURIComponent(instanceId)}.json`);
  }
}
