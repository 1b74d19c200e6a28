import type { NodeConfig } from '../config/schema';

/** Which frontend a node serves: the write pool (primary), the read pool (standbys) or neither. */
export type PoolRole = 'write' | 'read' | 'none';

/** What the adapter needs to know about a node to find it in the pools. */
export type PoolMember = Pick<NodeConfig, 'name' | 'host' | 'nicResourceId' | 'ipConfigurationName'>;

export interface PoolMembership {
  /** Node names in the write pool, sorted. */
  write: string[];
  /** Node names in the read pool, sorted. */
  read: string[];
  /** Pool entries that are none of the cluster's nodes (an S4 finding, docs/invariants.md: the pools do not match the roles). */
  unknown: { pool: 'write' | 'read'; member: string }[];
  /**
   * Probe mode: nodes whose agent neither answered nor refused either probe within the probe
   * timeout (a silent VM, or a hung agent: asking it again soon would most likely wait as long).
   * Absent where ARM is read.
   */
  silent?: string[];
  /**
   * Probe mode: which step scripts each answering agent runs (its probes' X-Pgfo-Steps header: a
   * version, or "none" when it serves no steps; null when it did not say). Absent where ARM is read.
   */
  agentSteps?: Record<string, string | null>;
}

export interface SetRoleResult {
  /** False when the node already had that role (nothing was written). */
  changed: boolean;
}

/**
 * The internal load balancer's two backend pools. setRole is idempotent and returns only after
 * Azure has accepted the change and a fresh read shows it.
 */
export interface LoadBalancerPools {
  setRole(node: PoolMember, role: PoolRole): Promise<SetRoleResult>;
  /**
   * `leaveOut`: nodes known unable to answer (their VM off); `briefly`: nodes asked within
   * BRIEF_ASK_MS only (src/domain/brief-ask.ts). Only a pool answered per node (probe mode) uses them.
   */
  readPools(leaveOut?: readonly string[], briefly?: readonly string[]): Promise<PoolMembership>;
}
