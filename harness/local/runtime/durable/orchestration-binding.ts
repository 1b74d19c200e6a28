import type { HistoryEvent } from './history-events';

/**
 * What the Durable Task extension sends an out-of-process orchestrator as its trigger value
 * (OrchestrationTriggerAttributeBindingProvider.OrchestrationContextToString), and what
 * durable-functions reads as DurableOrchestrationBindingInfo. The extension advertises schema V2 in
 * `upperSchemaVersion` (kept for old Python SDKs) and V3 in `upperSchemaVersionNew`; the JS SDK
 * prefers the latter. TimeSpans are serialized the .NET way ("d.hh:mm:ss"); the values are those
 * of the Azure Storage provider (maximum short timer 6 days, long-timer interval 3 days).
 */
export interface OrchestrationBinding {
  history: HistoryEvent[];
  input: unknown;
  instanceId: string;
  isReplaying: boolean;
  parentInstanceId: string | null;
  upperSchemaVersion: number;
  upperSchemaVersionNew: number;
  longRunningTimerIntervalDuration: string;
  maximumShortTimerDuration: string;
  defaultHttpAsyncRequestSleepTimeMillseconds: number;
}

export const MAXIMUM_SHORT_TIMER_MS = 6 * 24 * 60 * 60 * 1000;

export function orchestrationBinding(init: {
  history: HistoryEvent[];
  inputJson: string | null;
  instanceId: string;
  isReplaying: boolean;
  parentInstanceId: string | undefined;
}): OrchestrationBinding {
  return {
    history: init.history,
    input: init.inputJson === null ? null : (JSON.parse(init.inputJson) as unknown),
    instanceId: init.instanceId,
    isReplaying: init.isReplaying,
    parentInstanceId: init.parentInstanceId ?? null,
    upperSchemaVersion: 1,
    upperSchemaVersionNew: 2,
    longRunningTimerIntervalDuration: '3.00:00:00',
    maximumShortTimerDuration: '6.00:00:00',
    defaultHttpAsyncRequestSleepTimeMillseconds: 30000,
  };
}
