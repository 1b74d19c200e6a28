import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RequestMessage, ResponseMessage } from './entity-messages';

/**
 * One entity as the local runtime persists it (`<stateDir>/entities/`, one JSON file each, written
 * atomically). Like the extension's entity scheduler state (SchedulerState), it holds the entity's
 * state, the requests delivered but not processed yet, and the ids of recent requests, so a request
 * delivered twice (at-least-once delivery, a restart) runs once. `outbox` holds the answers of the
 * last batch until they are delivered: the batch's state and its answers are committed together.
 */
export interface EntityRecord {
  schedulerId: string;
  name: string;
  key: string;
  exists: boolean;
  /** The entity's state as JSON text (what durable-functions' setState wrote). */
  state: string | null;
  queue: RequestMessage[];
  handled: string[];
  outbox: Array<{ instanceId: string; requestId: string; response: ResponseMessage }>;
  lastModifiedTime: string;
}

export class EntityStore {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'entities');
    mkdirSync(this.dir, { recursive: true });
  }

  loadAll(): EntityRecord[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as EntityRecord);
  }

  save(record: EntityRecord): void {
    const file = join(this.dir, `${encodeURIComponent(record.schedulerId)}.json`);
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(record, null, 1));
    renameSync(temp, file);
  }
}
