import type { TelemetryEnvelope } from './telemetry-ingestion';

/**
 * What the emulator saw, for tests to assert on. It never holds a protected parameter's value
 * or a request body, so "the secret appears nowhere in the record" is a meaningful check.
 */
export interface ScriptExecutionRecord {
  vm: string;
  kind: 'action' | 'managed';
  /** Managed Run Command resource name. */
  runCommandName?: string;
  scriptText: string;
  /** Plain parameters, names and values: visible in Azure too. */
  parameters: { name: string; value: string }[];
  /** Protected parameters: names only. */
  protectedParameterNames: string[];
  state: 'running' | 'finished';
  exitCode?: number | null;
  timedOut?: boolean;
}

export interface RequestRecord {
  method: string;
  /** Path and query (no secret ever travels in a URL). */
  url: string;
  status: number;
}

export interface PoolMemberInfo {
  ipAddress: string;
  /** The VM whose private IP this is, when one is. */
  vm?: string;
}

/** The data plane of one load balancer: who each backend pool really routes to. */
export interface PoolsSnapshot {
  loadBalancerId: string;
  loadBalancerName: string;
  pools: Record<string, PoolMemberInfo[]>;
}

export interface EmulatorRecord {
  executions: ScriptExecutionRecord[];
  /** Application Insights envelopes accepted by the ingestion endpoint: what the app reported, to be checked for secrets like the rest. */
  telemetry: TelemetryEnvelope[];
  requests: RequestRecord[];
  /** Every RBAC action the emulator allowed, with the resource it was checked on. */
  authorized: { action: string; scope: string }[];
  poolChanges: PoolsSnapshot[];
  powerChanges: { vm: string; state: string }[];
}

export function emptyRecord(): EmulatorRecord {
  return { executions: [], telemetry: [], requests: [], authorized: [], poolChanges: [], powerChanges: [] };
}
