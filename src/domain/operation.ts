import type { ClusterConfig } from '../config/schema';
import type { StepRecord } from './timeline';

/**
 * Names of the steps that take writes away and give them back, shared by the orchestrations that
 * run them and the history that finds an operation's write window by them (operation-summary.ts).
 */
export const DRAIN_STEP = 'drain primary';
export const REPOINT_STEP = 'repoint load balancer';
export const fenceStep = (node: string): string => `fence ${node}: out of the pools`;
export const undoStep = (name: string): string => `undo: ${name}`;

export type OperationKind = 'switchover' | 'failover';

/** What a trigger hands an operation orchestration. */
export interface OperationInput<Request> {
  operationId: string;
  kind: OperationKind;
  /** The configuration as it was when the operation started; an orchestration never reads settings itself. */
  cluster: ClusterConfig;
  request: Request;
  requestedBy: string;
}

export type OperationOutcome = 'running' | 'completed' | 'aborted' | 'refused' | 'failed';

/** Live progress (custom status) while running; the final report (output) afterwards. */
export interface OperationReport {
  operationId: string;
  kind: OperationKind;
  cluster: string;
  outcome: OperationOutcome;
  /** Why it was refused, aborted or failed. */
  reason?: string;
  oldPrimary?: string;
  newPrimary?: string;
  rejoinMethod?: string;
  /** What could not be finished after the point of no return (roll forward only). */
  problems: string[];
  currentStep?: string;
  steps: StepRecord[];
}
