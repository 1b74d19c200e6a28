import type { ConninfoTarget } from './conninfo';
import { Lsn } from './lsn';

/** A row of pg_stat_replication, as the primary sees one standby. */
export interface ReplicationConnection {
  applicationName: string;
  clientAddr: string | null;
  state: string;
  sentLsn: Lsn | null;
  writeLsn: Lsn | null;
  flushLsn: Lsn | null;
  replayLsn: Lsn | null;
  syncState: string;
}

/** pg_stat_wal_receiver, as a standby sees its upstream. */
export interface WalReceiverState {
  status: string;
  senderHost: string | null;
  senderPort: number | null;
  flushedLsn: Lsn | null;
  receivedTimeline: number | null;
  lastMessageAt: string | null;
}

interface NodeIdentity {
  name: string;
  host: string;
  port: number;
}

export interface UnreachableNode extends NodeIdentity {
  reachable: false;
  role: 'unknown';
  error: string;
}

export interface ReachableNode extends NodeIdentity {
  reachable: true;
  role: 'primary' | 'standby';
  serverVersion: string;
  timeline: number;
  /** Primary: pg_current_wal_lsn(). Standby: the replayed position. */
  currentLsn: Lsn | null;
  receivedLsn: Lsn | null;
  replayLsn: Lsn | null;
  replication: ReplicationConnection[];
  walReceiver: WalReceiverState | null;
  /**
   * A standby's primary_conninfo host and port — where it connects after any restart of its WAL
   * receiver, whether or not it streams now. null for a primary, or when the setting cannot be read.
   */
  primaryConninfo: ConninfoTarget | null;
  /** pg_postmaster_start_time(): a different value later means the server was restarted meanwhile. */
  serverStartedAt: string | null;
  /**
   * pg_control_system()'s system_identifier, as text (a 64-bit number): the same on every node of one
   * database cluster (initdb makes it; pg_basebackup and pg_rewind keep it), so another value means
   * another database cluster. null when it cannot be read.
   */
  systemIdentifier: string | null;
}

export type NodeInspection = ReachableNode | UnreachableNode;

export const isStreaming = (node: NodeInspection): boolean =>
  node.reachable && node.role === 'standby' && node.walReceiver?.status === 'streaming';

/**
 * S2: whether ARM's power state says the VM runs nothing — powered off or deallocated. Stopping,
 * deallocating, starting, running and a state that could not be read may run PostgreSQL, now or
 * in a moment.
 */
export const isPoweredDown = (powerState: string): boolean => powerState === 'stopped' || powerState === 'deallocated';
