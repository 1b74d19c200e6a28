/**
 * Orchestration history as the Durable Task extension hands it to out-of-process SDKs: plain
 * objects with PascalCase fields, `EventType` numbers from DurableTask.Core's EventType enum (which
 * durable-functions mirrors as HistoryEventType; a unit test checks the numbers against the SDK),
 * timestamps as ISO strings, `EventId` = the task's sequence number for scheduling events and -1
 * otherwise, `IsPlayed` = true for events from earlier episodes.
 */
export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionFailed: 2,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventSent: 14,
  EventRaised: 15,
  ContinueAsNew: 16,
  GenericEvent: 17,
  HistoryState: 18,
  ExecutionSuspended: 19,
  ExecutionResumed: 20,
} as const;

export type EventTypeNumber = (typeof EventType)[keyof typeof EventType];

export const eventTypeName = (type: number): string =>
  Object.entries(EventType).find(([, value]) => value === type)?.[0] ?? `EventType${type}`;

export interface HistoryEvent {
  EventType: EventTypeNumber;
  EventId: number;
  IsPlayed: boolean;
  Timestamp: string;
  Name?: string;
  Version?: string;
  /** JSON text (inputs and results travel serialized, as in DurableTask.Core). */
  Input?: string | null;
  Result?: string | null;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  Reason?: string;
  Details?: string;
  InstanceId?: string;
  OrchestrationStatus?: string;
  OrchestrationInstance?: { InstanceId: string; ExecutionId: string };
  ParentInstance?: { Name: string; TaskScheduleId: number; OrchestrationInstance: { InstanceId: string; ExecutionId: string } } | null;
}

const base = (type: EventTypeNumber, at: string, eventId = -1): HistoryEvent => ({
  EventType: type,
  EventId: eventId,
  IsPlayed: false,
  Timestamp: at,
});

export const history = {
  orchestratorStarted: (at: string): HistoryEvent => base(EventType.OrchestratorStarted, at),
  orchestratorCompleted: (at: string): HistoryEvent => base(EventType.OrchestratorCompleted, at),
  executionStarted: (
    at: string,
    init: { name: string; input: string | null; instanceId: string; executionId: string; parent?: ParentRef },
  ): HistoryEvent => ({
    ...base(EventType.ExecutionStarted, at),
    Name: init.name,
    Version: '',
    Input: init.input,
    OrchestrationInstance: { InstanceId: init.instanceId, ExecutionId: init.executionId },
    ParentInstance: init.parent
      ? {
          Name: init.parent.name,
          TaskScheduleId: init.parent.taskScheduledId,
          OrchestrationInstance: { InstanceId: init.parent.instanceId, ExecutionId: init.parent.executionId },
        }
      : null,
  }),
  executionCompleted: (at: string, status: 'Completed' | 'Failed' | 'Terminated', result: string | null): HistoryEvent => ({
    ...base(EventType.ExecutionCompleted, at),
    OrchestrationStatus: status,
    Result: result,
  }),
  executionTerminated: (at: string, reason: string | null): HistoryEvent => ({
    ...base(EventType.ExecutionTerminated, at),
    Input: reason,
  }),
  continueAsNew: (at: string, input: string | null): HistoryEvent => ({
    ...base(EventType.ContinueAsNew, at),
    OrchestrationStatus: 'ContinuedAsNew',
    Result: input,
  }),
  taskScheduled: (at: string, id: number, name: string, input: string | null): HistoryEvent => ({
    ...base(EventType.TaskScheduled, at, id),
    Name: name,
    Version: '',
    Input: input,
  }),
  taskCompleted: (at: string, taskId: number, result: string | null): HistoryEvent => ({
    ...base(EventType.TaskCompleted, at),
    TaskScheduledId: taskId,
    Result: result,
  }),
  taskFailed: (at: string, taskId: number, reason: string, details: string): HistoryEvent => ({
    ...base(EventType.TaskFailed, at),
    TaskScheduledId: taskId,
    Reason: reason,
    Details: details,
  }),
  timerCreated: (at: string, id: number, fireAt: string): HistoryEvent => ({
    ...base(EventType.TimerCreated, at, id),
    FireAt: fireAt,
  }),
  timerFired: (at: string, timerId: number, fireAt: string): HistoryEvent => ({
    ...base(EventType.TimerFired, at),
    TimerId: timerId,
    FireAt: fireAt,
  }),
  subOrchestrationCreated: (at: string, id: number, name: string, instanceId: string, input: string | null): HistoryEvent => ({
    ...base(EventType.SubOrchestrationInstanceCreated, at, id),
    Name: name,
    Version: '',
    InstanceId: instanceId,
    Input: input,
  }),
  subOrchestrationCompleted: (at: string, taskId: number, result: string | null): HistoryEvent => ({
    ...base(EventType.SubOrchestrationInstanceCompleted, at),
    TaskScheduledId: taskId,
    Result: result,
  }),
  subOrchestrationFailed: (at: string, taskId: number, reason: string, details: string): HistoryEvent => ({
    ...base(EventType.SubOrchestrationInstanceFailed, at),
    TaskScheduledId: taskId,
    Reason: reason,
    Details: details,
  }),
  eventSent: (at: string, id: number, instanceId: string, name: string, input: string | null): HistoryEvent => ({
    ...base(EventType.EventSent, at, id),
    InstanceId: instanceId,
    Name: name,
    Input: input,
  }),
  eventRaised: (at: string, name: string, input: string | null): HistoryEvent => ({
    ...base(EventType.EventRaised, at),
    Name: name,
    Input: input,
  }),
};

export interface ParentRef {
  instanceId: string;
  executionId: string;
  taskScheduledId: number;
  name: string;
}

/** Task ids whose completion (success or failure) is already in the history. */
export function completedTaskIds(events: readonly HistoryEvent[]): Set<number> {
  const done = new Set<number>();
  for (const e of events) {
    if (e.TaskScheduledId !== undefined) done.add(e.TaskScheduledId);
    if (e.EventType === EventType.TimerFired && e.TimerId !== undefined) done.add(e.TimerId);
  }
  return done;
}
