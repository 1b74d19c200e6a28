import { parseConfig } from '../../src/config/load';
import { ClusterConfig } from '../../src/config/schema';
import { ClusterView } from '../../src/domain/cluster-view';
import { NodeInspection, ReachableNode } from '../../src/domain/node-state';
import { validConfigDocument } from './config-fixtures';

export function testCluster(edit: (doc: ReturnType<typeof validConfigDocument>) => void = () => undefined): ClusterConfig {
  const doc = validConfigDocument();
  edit(doc);
  return parseConfig(doc, 'test').clusters[0];
}

export const hostOf = (name: string) => `10.0.1.${10 + Number(name.replace('pg', ''))}`;
/** When every fixture node's postmaster started (before any observation of the domain tests). */
export const SERVER_STARTED_AT = '2026-05-01T09:00:00.000Z';
/** The fixture cluster's pg_control system identifier (initdb's: seconds since 1970 << 32, plus noise). */
export const SYSTEM_IDENTIFIER = '7443108474285611041';

export function primary(name: string, lsn: string, streamingStandbys: string[] = []): ReachableNode {
  return {
    name, host: hostOf(name), port: 5432, reachable: true, role: 'primary', serverVersion: '15.8', timeline: 1,
    currentLsn: lsn, receivedLsn: null, replayLsn: null, walReceiver: null, primaryConninfo: null, serverStartedAt: SERVER_STARTED_AT, systemIdentifier: SYSTEM_IDENTIFIER,
    replication: streamingStandbys.map((s) => ({ applicationName: s, clientAddr: hostOf(s), state: 'streaming', sentLsn: lsn, writeLsn: lsn, flushLsn: lsn, replayLsn: lsn, syncState: 'async' })),
  };
}

export function standby(name: string, from: string, received: string | null, replayed: string | null = received, status = 'streaming'): ReachableNode {
  return {
    name, host: hostOf(name), port: 5432, reachable: true, role: 'standby', serverVersion: '15.8', timeline: 1,
    currentLsn: replayed, receivedLsn: received, replayLsn: replayed, replication: [],
    walReceiver: { status, senderHost: hostOf(from), senderPort: 5432, flushedLsn: received, receivedTimeline: 1, lastMessageAt: null },
    primaryConninfo: { host: hostOf(from), port: 5432 }, serverStartedAt: SERVER_STARTED_AT, systemIdentifier: SYSTEM_IDENTIFIER,
  };
}

export function down(name: string): NodeInspection {
  return { name, host: hostOf(name), port: 5432, reachable: false, role: 'unknown', error: 'connection refused' };
}

export function view(nodes: NodeInspection[]): ClusterView {
  return { cluster: 'orders', nodes, pools: { write: ['pg1'], read: ['pg2', 'pg3'] } };
}
