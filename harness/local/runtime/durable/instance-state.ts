import type { ActionJson } from './actions';
import type { HistoryEvent, ParentRef } from './history-events';

/**
 * One orchestration instance as the local runtime persists it (one JSON file per instance). The
 * history of the current execution plus the inbox of messages not yet applied are the whole truth:
 * pending activities, timers and sub-orchestrations are derived from them after a restart.
 */
export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'ContinuedAsNew' | 'Failed' | 'Canceled' | 'Terminated' | 'Suspended';

export const terminalStatuses: readonly RuntimeStatus[] = ['Completed', 'Failed', 'Canceled', 'Terminated'];

export const isTerminal = (status: RuntimeStatus): boolean => terminalStatuses.includes(status);

/** A message addressed to the instance; completions carry the execution they belong to. */
export interface InboxMessage {
  event: HistoryEvent;
  executionId?: string;
}

export interface InstanceState {
  instanceId: string;
  name: string;
  executionId: string;
  runtimeStatus: RuntimeStatus;
  /** JSON text of the current execution's input. */
  input: string | null;
  /** JSON text of the output (for Failed: the failure message; for Terminated: the reason). */
  output: string | null;
  customStatus: string | null;
  createdTime: string;
  lastUpdatedTime: string;
  parent?: ParentRef;
  history: HistoryEvent[];
  inbox: InboxMessage[];
  /** Actions returned by the previous episode of this execution: the determinism baseline. */
  lastActions: ActionJson[];
  episodes: number;
}

export function cloneState(state: InstanceState): InstanceState {
  return JSON.parse(JSON.stringify(state)) as InstanceState;
}
