import type { ClusterView } from './cluster-view';
import type { HealthState, HealthVerdictKind } from './health';

/** What an operator reads beside the topology: the health check's last verdict and what it holds back. */
export interface HealthSummary {
  /** null until the health check has looked at the cluster once. */
  verdict: HealthVerdictKind | null;
  summary: string | null;
  checkedAt: string | null;
  findings: string[];
  /** The action the verdict called for but did not take, and why (maintenance mode, autoFailover off, ...). */
  suppressed: string | null;
  maintenance: boolean;
  /** Nodes kept out of the pools for their planned maintenance. */
  heldNodes: string[];
  /** Former primaries and broken standbys waiting to come back as standbys. */
  pendingRejoins: string[];
}

export function summarizeHealth(state: HealthState): HealthSummary {
  const check = state.lastCheck;
  return {
    verdict: check?.verdict ?? null,
    summary: check?.summary ?? null,
    checkedAt: check?.at ?? null,
    findings: check?.findings ?? [],
    suppressed: check?.suppressed ? `${check.suppressed.action.kind}: ${check.suppressed.because}` : null,
    maintenance: state.maintenance.enabled,
    heldNodes: (state.maintenanceHolds ?? []).map((hold) => hold.node),
    pendingRejoins: state.pendingRejoin.map((rejoin) => rejoin.node),
  };
}

/** GET /api/clusters/{cluster}: one look at every node and the pools, and the health check's verdict. */
export type ClusterStatus = ClusterView & { health: HealthSummary };
