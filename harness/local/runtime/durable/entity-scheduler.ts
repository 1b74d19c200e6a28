import { randomUUID } from 'node:crypto';
import type { Clock, ClockTimer } from '../clock';
import { functionTimeoutMessage, type FunctionTimeout } from '../host/function-timeout';
import type { RuntimeLog } from '../log';
import { entityOfSchedulerId, schedulerIdOf, type RequestMessage, type ResponseMessage } from './entity-messages';
import type { EntityRecord, EntityStore } from './entity-store';

/**
 * Durable entities as the extension runs them for an out-of-process app (TaskEntityShim): one
 * scheduler per entity id processes the requests delivered to it strictly one batch at a time, in
 * arrival order, so an entity's operations never interleave — the property a per-key lock or an
 * ownership record needs. A batch goes to the app's entity function as the extension's trigger value
 * ({self, exists, state, batch: [{name, input, isSignal}]}); the function returns the new state and
 * one result per operation; each call (not signal) is answered with a ResponseMessage raised on the
 * caller under the request id; signals the entity sends are delivered to their targets. A batch that
 * outlives functionTimeout fails every operation in it and leaves the state unchanged, as
 * ExecuteOutOfProcBatch does. Critical sections (`context.df.lock`) need out-of-process schema V4,
 * which the extension does not advertise (it sends V3), so durable-functions refuses them there and
 * here alike.
 */
export interface EntityOutcome {
  entityExists: boolean;
  entityState?: string | null;
  results: Array<{ isError: boolean; result?: string }>;
  signals: Array<{ target: { name: string; key: string }; name: string; input?: string }>;
}

export interface EntitySchedulerDeps {
  store: EntityStore;
  clock: Clock;
  log: RuntimeLog;
  functionTimeout: FunctionTimeout;
  entityNames(): string[];
  runEntity(functionName: string, triggerJson: string): Promise<EntityOutcome>;
  /** Raises the answer on the calling orchestration (an EventRaised named after the request id). */
  respond(instanceId: string, requestId: string, responseJson: string): void;
}

/** The extension's maxEntityOperationBatchSize on Consumption plans (Flex Consumption included). */
const MAX_BATCH = 50;
/** Request ids remembered per entity for de-duplication. */
const HANDLED_KEPT = 1000;

export class EntityScheduler {
  private readonly records = new Map<string, EntityRecord>();
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(private readonly deps: EntitySchedulerDeps) {}

  /** Loads the persisted entities: before the engine resumes orchestrations, which may deliver requests. */
  load(): void {
    for (const record of this.deps.store.loadAll()) this.records.set(record.schedulerId, record);
  }

  /** Delivers the answers a stop cut off and runs what is queued: once the engine takes events again. */
  resume(): void {
    for (const record of this.records.values()) {
      this.flushOutbox(record);
      if (record.queue.length > 0) this.schedule(record.schedulerId);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.running.values()]);
  }

  /** Delivers a request; one already queued or handled (same id) is dropped, as the extension dedupes. */
  deliver(schedulerId: string, request: RequestMessage): void {
    if (this.stopped) return;
    const entity = entityOfSchedulerId(schedulerId);
    if (!entity) throw new Error(`'${schedulerId}' is not an entity id`);
    const record = this.records.get(schedulerId) ?? this.newRecord(schedulerId, entity.name, entity.key);
    if (record.handled.includes(request.id) || record.queue.some((r) => r.id === request.id)) {
      this.deps.log.debug('entity.duplicateRequest', { entity: schedulerId, requestId: request.id });
      return;
    }
    record.queue.push(request);
    this.commit(record);
    this.schedule(schedulerId);
  }

  /** A client signal (DurableClient.signalEntity). */
  signal(entity: { name: string; key: string }, operation: string, inputJson: string | null): void {
    this.deliver(schedulerIdOf(entity), { op: operation, signal: true, id: randomUUID(), ...(inputJson === null ? {} : { input: inputJson }) });
  }

  /** The entity's state as JSON text, or undefined when it does not exist (readEntityState → 404). */
  read(entity: { name: string; key: string }): { state: string | null } | undefined {
    const record = this.records.get(schedulerIdOf(entity));
    return record?.exists ? { state: record.state } : undefined;
  }

  functionFor(entityName: string): string | undefined {
    return this.deps.entityNames().find((n) => n.toLowerCase() === entityName.toLowerCase());
  }

  private newRecord(schedulerId: string, name: string, key: string): EntityRecord {
    const record: EntityRecord = { schedulerId, name, key, exists: false, state: null, queue: [], handled: [], outbox: [], lastModifiedTime: this.nowIso() };
    this.records.set(schedulerId, record);
    return record;
  }

  private schedule(schedulerId: string): void {
    if (this.stopped || this.running.has(schedulerId)) return;
    const loop = (async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (;;) {
        const record = this.records.get(schedulerId);
        if (this.stopped || !record || record.queue.length === 0) break;
        await this.runBatch(record);
      }
    })()
      .catch((error: unknown) => this.deps.log.error('entity.batchCrashed', { entity: schedulerId, error }))
      .finally(() => this.running.delete(schedulerId));
    this.running.set(schedulerId, loop);
  }

  private async runBatch(record: EntityRecord): Promise<void> {
    const batch = record.queue.slice(0, MAX_BATCH);
    const functionName = this.functionFor(record.name);
    const outcome = functionName ? await this.invoke(record, functionName, batch) : missingFunction(record, batch);
    if (this.stopped) return;
    record.exists = outcome.entityExists;
    record.state = outcome.entityExists ? (outcome.entityState ?? null) : null;
    record.queue = record.queue.slice(batch.length);
    record.handled = [...record.handled, ...batch.map((r) => r.id)].slice(-HANDLED_KEPT);
    batch.forEach((request, i) => {
      const result = outcome.results[i] ?? { isError: true, result: JSON.stringify('the entity function returned no result for this operation') };
      if (request.signal || !request.parent) return;
      const response: ResponseMessage = { result: result.result ?? null, ...(result.isError ? { exceptionType: 'Error' } : {}) };
      record.outbox.push({ instanceId: request.parent, requestId: request.id, response });
    });
    record.lastModifiedTime = this.nowIso();
    this.commit(record);
    this.deps.log.info('entity.batchCompleted', {
      entity: record.schedulerId,
      operations: batch.map((r, i) => `${r.op}${outcome.results[i]?.isError ? ' (failed)' : ''}`),
    });
    this.flushOutbox(record);
    for (const signal of outcome.signals) {
      this.deliver(schedulerIdOf(signal.target), { op: signal.name, signal: true, id: randomUUID(), parent: record.schedulerId, ...(signal.input ? { input: signal.input } : {}) });
    }
  }

  private async invoke(record: EntityRecord, functionName: string, batch: RequestMessage[]): Promise<EntityOutcome> {
    const trigger = JSON.stringify({
      self: { name: record.name, key: record.key },
      exists: record.exists,
      state: record.state,
      batch: batch.map((r) => ({ name: r.op, input: r.input ?? null, isSignal: r.signal === true })),
    });
    const unchanged = (message: string): EntityOutcome => ({
      entityExists: record.exists,
      entityState: record.state,
      results: batch.map(() => ({ isError: true, result: JSON.stringify(message) })),
      signals: [],
    });
    let timer: ClockTimer | undefined;
    const timedOut = new Promise<EntityOutcome>((resolve) => {
      timer = this.deps.clock.schedule(this.deps.clock.now() + this.deps.functionTimeout.ms, () =>
        resolve(unchanged(functionTimeoutMessage(this.deps.functionTimeout, functionName))),
      );
    });
    const attempt = this.deps.runEntity(functionName, trigger).catch((error: unknown) => unchanged(error instanceof Error ? error.message : String(error)));
    return Promise.race([attempt, timedOut]).finally(() => timer?.cancel());
  }

  private flushOutbox(record: EntityRecord): void {
    if (record.outbox.length === 0) return;
    // An answer the engine could not take (it is stopping) stays for the next start to deliver.
    record.outbox = record.outbox.filter((answer) => {
      try {
        this.deps.respond(answer.instanceId, answer.requestId, JSON.stringify(answer.response));
        return false;
      } catch (error) {
        this.deps.log.warn('entity.responseDeferred', { entity: record.schedulerId, instanceId: answer.instanceId, error });
        return true;
      }
    });
    this.commit(record);
  }

  private commit(record: EntityRecord): void {
    if (this.stopped) return;
    this.deps.store.save(record);
  }

  private nowIso(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }
}

/** The extension answers a request to an entity with no function by that name with an error. */
function missingFunction(record: EntityRecord, batch: RequestMessage[]): EntityOutcome {
  const message = `The function '${record.name}' doesn't exist, is disabled, or is not an entity function.`;
  return { entityExists: record.exists, entityState: record.state, results: batch.map(() => ({ isError: true, result: JSON.stringify(message) })), signals: [] };
}
