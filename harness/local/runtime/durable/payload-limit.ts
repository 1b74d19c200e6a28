import type { OrchestratorStateJson } from './actions';
import type { ScheduledCall } from './host-replay';
import { EventType, history, type HistoryEvent } from './history-events';

/**
 * The Durable Task Scheduler's payload limit: 1 MB per orchestration input and output, activity
 * input and output and external event (DTS docs; Azure/Durable-Task-Scheduler#24 "payloads that
 * exceed the 1MB limit"). The scheduler's backend validates it and it is not configurable
 * (cgillum in Azure/azure-functions-durable-extension#3077: "It's the DTS backend APIs which
 * validate that all payloads are <= 1 MB, and this is non-configurable for users"). The Azure
 * Storage provider has no such limit: messages above 64 KB spill to blobs.
 *
 * Counted as the UTF-8 bytes of the JSON text (what a protobuf string field carries). "1 MB" is
 * taken as 1,000,000 bytes, the stricter reading, so a payload the local runtime accepts is never
 * refused for its size in Azure.
 *
 * The wording: the backend is closed source and no public issue, sample or SDK source quotes the
 * error it returns (searched: durabletask-dotnet, azure-functions-durable-extension,
 * Durable-Task-Scheduler issues). The local runtime therefore words its own message and shapes it
 * like the gRPC RpcException text the host surfaces for a rejected call
 * (`Status(StatusCode="…", Detail="…")`, e.g. durabletask-dotnet#135); the status code is an
 * assumption too.
 */
export const DTS_MAX_PAYLOAD_BYTES = 1_000_000;

export function payloadBytes(json: string | null | undefined): number {
  return json === null || json === undefined ? 0 : Buffer.byteLength(json, 'utf8');
}

/** Undefined when `json` fits; otherwise the message the scheduler's refusal is modelled with. */
export function payloadTooLarge(json: string | null | undefined, what: string, limit: number | undefined): string | undefined {
  if (limit === undefined) return undefined;
  const bytes = payloadBytes(json);
  if (bytes <= limit) return undefined;
  const n0 = (value: number) => value.toLocaleString('en-US');
  return `Status(StatusCode="InvalidArgument", Detail="The ${what} is ${n0(bytes)} bytes, more than the ${n0(limit)} bytes (1 MB) the Durable Task Scheduler accepts per payload.")`;
}

/** Thrown by the client API (startNew, raiseEvent); the HTTP API answers it with 500, as any RpcException. */
export class PayloadTooLargeError extends Error {
  readonly name = 'Grpc.Core.RpcException';
}

/**
 * An activity result above the limit never reaches the orchestration: the task fails with the
 * scheduler's refusal, named as an activity failure (TaskActivityShim's "Activity function '<name>'
 * failed: …"). Other events pass through unchanged.
 */
export function limitActivityResult(event: HistoryEvent, past: readonly HistoryEvent[], limit: number | undefined): HistoryEvent {
  if (event.EventType !== EventType.TaskCompleted || limit === undefined) return event;
  const name = past.find((e) => e.EventType === EventType.TaskScheduled && e.EventId === event.TaskScheduledId)?.Name ?? '';
  const refused = payloadTooLarge(event.Result, `output of activity '${name}'`, limit);
  if (!refused) return event;
  return history.taskFailed(event.Timestamp, event.TaskScheduledId ?? -1, `Activity function '${name}' failed: ${refused}`, '{}');
}

/**
 * What an episode hands the scheduler: the inputs of what it schedules (activities,
 * sub-orchestrations, entity messages), a continueAsNew input, the orchestration's output. The first
 * one above the limit fails the orchestration and nothing of the episode is scheduled (the whole
 * completion is one call to the scheduler).
 */
export function oversizedEpisodePayload(
  calls: readonly ScheduledCall[],
  orchestratorState: OrchestratorStateJson | undefined,
  continueAsNewInput: string | null | undefined,
  limit: number | undefined,
): string | undefined {
  if (limit === undefined) return undefined;
  for (const call of calls) {
    if (call.kind === 'timer') continue;
    const what = call.kind === 'activity' ? `input of activity '${call.name ?? ''}'` : call.kind === 'subOrchestration' ? `input of sub-orchestration '${call.name ?? ''}'` : `message to entity '${call.instanceId ?? ''}'`;
    const refused = payloadTooLarge(call.input, what, limit);
    if (refused) return refused;
  }
  if (continueAsNewInput !== undefined) return payloadTooLarge(continueAsNewInput, 'continueAsNew input', limit);
  if (orchestratorState?.isDone && orchestratorState.output !== undefined) return payloadTooLarge(JSON.stringify(orchestratorState.output), 'orchestration output', limit);
  return undefined;
}
