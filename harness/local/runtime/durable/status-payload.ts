import { EventType, eventTypeName, type HistoryEvent } from './history-events';
import type { InstanceState } from './instance-state';

/**
 * The status JSON of the Durable Task HTTP API (the extension's StatusResponsePayload): inputs,
 * outputs and custom status are JSON values, times are "s"-formatted UTC without fractions, and the
 * history (only with showHistory=true) is the extension's "friendly" form under `historyEvents`:
 * EventType names instead of numbers, OrchestratorStarted/Completed and the scheduling rows folded
 * into their completions (FunctionName, ScheduledTime), EventId/IsPlayed removed. Note that
 * durable-functions' DurableOrchestrationStatus reads `history`, not `historyEvents`, so
 * `status.history` is undefined in Azure too; the raw history is available from the runtime.
 */
export interface StatusPayload {
  name: string;
  instanceId: string;
  runtimeStatus: string;
  input: unknown;
  customStatus: unknown;
  output: unknown;
  createdTime: string;
  lastUpdatedTime: string;
  historyEvents?: Array<Record<string, unknown>>;
}

export interface StatusOptions {
  showHistory?: boolean;
  showHistoryOutput?: boolean;
  showInput?: boolean;
}

export function statusPayload(state: InstanceState, options: StatusOptions = {}): StatusPayload {
  const showInput = options.showInput ?? true;
  const payload: StatusPayload = {
    name: state.name,
    instanceId: state.instanceId,
    runtimeStatus: state.runtimeStatus,
    input: showInput ? parseJsonText(state.input) : null,
    customStatus: parseJsonText(state.customStatus),
    output: parseJsonText(state.output),
    createdTime: secondsFormat(state.createdTime),
    lastUpdatedTime: secondsFormat(state.lastUpdatedTime),
  };
  if (options.showHistory && state.runtimeStatus !== 'Pending') {
    payload.historyEvents = friendlyHistory(state.history, options.showHistoryOutput ?? false, showInput);
  }
  return payload;
}

/** DurableClient.ParseToJToken: JSON text to a value; text that is not JSON stays a string. */
export function parseJsonText(text: string | null): unknown {
  if (text === null) return null;
  const trimmed = text.trim();
  if (trimmed === '') return '';
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return text;
  }
}

function secondsFormat(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 19)}Z`;
}

function friendlyHistory(events: readonly HistoryEvent[], showOutput: boolean, showInput: boolean): Array<Record<string, unknown>> {
  const scheduled = new Map<string, { index: number; name?: string; at: string; input?: string | null }>();
  const removed = new Set<number>();
  const rows = events.map((event, index) => {
    const row: Record<string, unknown> = { ...event, EventType: eventTypeName(event.EventType) };
    switch (event.EventType) {
      case EventType.TaskScheduled:
      case EventType.SubOrchestrationInstanceCreated:
        scheduled.set(`${event.EventType}_${event.EventId}`, { index, name: event.Name, at: event.Timestamp, input: event.Input });
        delete row.Version;
        break;
      case EventType.TaskCompleted:
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceCompleted:
      case EventType.SubOrchestrationInstanceFailed: {
        const kind = event.EventType === EventType.TaskCompleted || event.EventType === EventType.TaskFailed
          ? EventType.TaskScheduled
          : EventType.SubOrchestrationInstanceCreated;
        const origin = scheduled.get(`${kind}_${event.TaskScheduledId}`);
        if (origin) {
          row.ScheduledTime = origin.at;
          row.FunctionName = origin.name;
          if (showInput) row.Input = origin.input;
          removed.add(origin.index);
        }
        delete row.TaskScheduledId;
        if (!showOutput) delete row.Result;
        else if (typeof row.Result === 'string') row.Result = parseJsonText(row.Result);
        break;
      }
      case EventType.ExecutionStarted:
        row.FunctionName = event.Name;
        delete row.Name;
        delete row.OrchestrationInstance;
        delete row.ParentInstance;
        delete row.Version;
        break;
      case EventType.ExecutionCompleted:
        if (!showOutput) delete row.Result;
        else if (typeof row.Result === 'string') row.Result = parseJsonText(row.Result);
        break;
      case EventType.TimerFired:
        delete row.TimerId;
        break;
      case EventType.OrchestratorStarted:
      case EventType.OrchestratorCompleted:
        removed.add(index);
        break;
      default:
        break;
    }
    if (!showInput) delete row.Input;
    delete row.EventId;
    delete row.IsPlayed;
    return row;
  });
  return rows.filter((_, index) => !removed.has(index));
}
