import { createHash } from 'node:crypto';

/**
 * The messages the Durable Task extension exchanges with an entity (EntityScheduler/RequestMessage,
 * ResponseMessage, EntityMessageEventNames). An orchestration's callEntity / signalEntity becomes an
 * EventSent named "op" to the entity's scheduler id "@<name>@<key>" carrying a RequestMessage; a
 * call's answer comes back as an EventRaised named after the request id carrying a ResponseMessage,
 * whose `result` is the operation's return value as JSON text (durable-functions parses both).
 */
export interface RequestMessage {
  op: string;
  /** Omitted when false (DefaultValueHandling.Ignore). */
  signal?: boolean;
  /** The operation input as JSON text; omitted when there is none. */
  input?: string;
  id: string;
  parent?: string;
  parentExecution?: string;
}

export interface ResponseMessage {
  result: string | null;
  /** "Error" when the operation threw (TaskEntityShim.ExecuteOutOfProcBatch); omitted otherwise. */
  exceptionType?: string;
}

export const REQUEST_EVENT_NAME = 'op';

export interface EntityKey {
  name: string;
  key: string;
}

/** EntityId.GetSchedulerIdFromEntityId: "@" + name (lower-cased) + "@" + key. */
export function schedulerIdOf(entity: EntityKey): string {
  return `@${entity.name.toLowerCase()}@${entity.key}`;
}

/** EntityId.GetEntityIdFromSchedulerId; undefined for an id that is not an entity's. */
export function entityOfSchedulerId(schedulerId: string): EntityKey | undefined {
  const match = /^@([^@]+)@(.*)$/s.exec(schedulerId);
  return match ? { name: match[1] as string, key: match[2] as string } : undefined;
}

const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

/**
 * DurableOrchestrationContext.NewGuid: a name-based (v5) UUID of "<instanceId>_<current orchestration
 * time, ISO>_<counter>", so a replay makes the same request ids. (The extension's GuidManager swaps
 * byte order the .NET way; the ids only need to be stable, not identical to the extension's.)
 */
export function deterministicGuid(instanceId: string, currentUtcIso: string, counter: number): string {
  const namespace = Buffer.from(URL_NAMESPACE.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(namespace).update(`${instanceId}_${currentUtcIso}_${counter}`, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
