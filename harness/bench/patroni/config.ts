import { join } from 'node:path';
import { DETECTION, PatroniTiming, patroniTimingProblem } from '../detection';

/**
 * The peer's configuration: Patroni (built-in Raft) on three PostgreSQL 15 nodes set up like our
 * lab's (same server settings, same roles, same loopback layout), HAProxy in front with Patroni's
 * documented health check. Everything the figures depend on is here, so it can be printed.
 */
export interface PatroniLayout {
  scope: string;
  addressBlock: string;
  rootDir: string;
  binDir: string;
  /** `statsSocket`: HAProxy's runtime API, where the bench reads whether every server was checked yet. */
  haproxy: { host: string; port: number; configFile: string; logFile: string; statsSocket: string };
  ctlConfigFile: string;
  nodes: PatroniNodeLayout[];
}

export interface PatroniNodeLayout {
  name: string;
  host: string;
  pgPort: number;
  restPort: number;
  raftPort: number;
  dir: string;
  dataDir: string;
  raftDir: string;
  socketDir: string;
  configFile: string;
  logFile: string;
  passFile: string;
}

export interface PatroniCredentials {
  superuser: { username: string; password: string };
  replication: { username: string; password: string };
  app: { user: string; password: string; database: string };
}

/** Patroni's defaults, stated explicitly so the printed settings are the ones in force. */
export const PATRONI_DCS = {
  ...DETECTION.standard.patroni,
  maximum_lag_on_failover: 1048576,
  synchronous_mode: false,
} as const;

export type PatroniDcs = PatroniTiming & { maximum_lag_on_failover: number; synchronous_mode: boolean };

/** The DCS settings with other timing (the "fast" detection variant); refuses timing Patroni would not accept. */
export function patroniDcs(timing: PatroniTiming = DETECTION.standard.patroni): PatroniDcs {
  const problem = patroniTimingProblem(timing);
  if (problem) throw new Error(`Patroni timing refused: ${problem}`);
  return { ...PATRONI_DCS, ...timing };
}

/** The same server settings as our lab nodes (harness/lab/lab-server.ts COMMON_SETTINGS). */
export const SHARED_PG_PARAMETERS: Record<string, string | number> = {
  wal_level: 'replica',
  max_wal_senders: 10,
  max_replication_slots: 10,
  wal_log_hints: 'on',
  hot_standby: 'on',
  hot_standby_feedback: 'on',
  wal_keep_size: '256MB',
  wal_receiver_status_interval: '1s',
  wal_sender_timeout: '10s',
  wal_receiver_timeout: '5s',
  shared_buffers: '32MB',
  max_connections: 60,
  password_encryption: 'scram-sha-256',
};

/** Patroni's documented HAProxy front (docs/outage.md, peer setup), plus the values HAProxy needs that shape the outage. */
export const HAPROXY_SETTINGS = {
  retries: 2,
  timeoutConnect: '4s',
  timeoutCheck: '5s',
  timeoutClient: '30m',
  timeoutServer: '30m',
  httpchk: 'option httpchk GET /primary',
  expect: 'http-check expect status 200',
  defaultServer: 'default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions',
} as const;

export function patroniLayout(rootDir: string, addressBlock: string, binDir: string, names = ['pg1', 'pg2', 'pg3']): PatroniLayout {
  const address = (last: number) => `127.${addressBlock}.${last}`;
  return {
    scope: 'pgfo-bench',
    addressBlock,
    rootDir,
    binDir,
    haproxy: { host: address(1), port: 5432, configFile: join(rootDir, 'haproxy.cfg'), logFile: join(rootDir, 'haproxy.log'), statsSocket: join(rootDir, 'haproxy.sock') },
    ctlConfigFile: join(rootDir, 'patronictl.yml'),
    nodes: names.map((name, index) => {
      const dir = join(rootDir, name);
      return {
        name,
        host: address(11 + index),
        pgPort: 5432,
        restPort: 8008,
        raftPort: 2222,
        dir,
        dataDir: join(dir, 'data'),
        raftDir: join(dir, 'raft'),
        socketDir: join(dir, 'run'),
        configFile: join(dir, 'patroni.yml'),
        logFile: join(dir, 'patroni.log'),
        passFile: join(dir, 'pgpass'),
      };
    }),
  };
}

const raftAddress = (node: PatroniNodeLayout) => `${node.host}:${node.raftPort}`;

/** One node's patroni.yml. JSON is valid YAML, and it spares us quoting rules. */
export function patroniNodeConfig(layout: PatroniLayout, node: PatroniNodeLayout, credentials: PatroniCredentials, dcs: PatroniDcs = PATRONI_DCS): string {
  const config = {
    scope: layout.scope,
    name: node.name,
    log: { level: 'INFO' },
    restapi: { listen: `${node.host}:${node.restPort}`, connect_address: `${node.host}:${node.restPort}` },
    raft: {
      data_dir: node.raftDir,
      self_addr: raftAddress(node),
      // Without bind_addr pysyncobj binds 0.0.0.0 and the nodes spin (docs/outage.md, peer setup).
      bind_addr: raftAddress(node),
      partner_addrs: layout.nodes.filter((n) => n !== node).map(raftAddress),
    },
    bootstrap: {
      dcs: {
        ...dcs,
        postgresql: { use_pg_rewind: true, use_slots: true, parameters: SHARED_PG_PARAMETERS },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }, { 'auth-local': 'peer' }, { 'auth-host': 'scram-sha-256' }],
    },
    postgresql: {
      listen: `${node.host}:${node.pgPort}`,
      connect_address: `${node.host}:${node.pgPort}`,
      data_dir: node.dataDir,
      bin_dir: layout.binDir,
      pgpass: node.passFile,
      authentication: {
        superuser: credentials.superuser,
        replication: credentials.replication,
      },
      // Our lab clones with `pg_basebackup -c fast` too; without it a clone waits for a spread checkpoint.
      basebackup: [{ checkpoint: 'fast' }],
      parameters: { unix_socket_directories: node.socketDir },
      pg_hba: [
        'local all all peer',
        `host replication ${credentials.replication.username} 127.0.0.0/8 scram-sha-256`,
        'host all all 127.0.0.0/8 scram-sha-256',
      ],
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** patronictl's own file: the Raft members to ask, no node identity (so it never joins as one). */
export function patronictlConfig(layout: PatroniLayout): string {
  return `${JSON.stringify({ scope: layout.scope, raft: { partner_addrs: layout.nodes.map(raftAddress) } }, null, 2)}\n`;
}

/**
 * What routes connections to Patroni's leader: 'haproxy', HAProxy as Patroni documents it; or
 * 'azure-ilb', the pattern on Azure VMs (issue 14: every node in one backend pool, the internal
 * load balancer's HTTP probe on /primary picking the writer) played by HAProxy with Azure's probe
 * semantics — every 5 s (Azure's minimum interval), down after one failed probe and up after one
 * answered (probeThreshold 1), established flows kept when a backend is probed down (no
 * shutdown-sessions), as the lab's load balancer does for ours (harness/lab/tcp-load-balancer.ts).
 */
export type PatroniFront = 'haproxy' | 'azure-ilb';

/** The Azure-like front's check interval: Azure's minimum probe interval. */
export const AZURE_PROBE_INTERVAL_MS = 5000;

export function haproxySettings(front: PatroniFront): typeof HAPROXY_SETTINGS | (Omit<typeof HAPROXY_SETTINGS, 'defaultServer'> & { defaultServer: string }) {
  return front === 'haproxy' ? HAPROXY_SETTINGS : { ...HAPROXY_SETTINGS, defaultServer: `default-server inter ${AZURE_PROBE_INTERVAL_MS / 1000}s fall 1 rise 1` };
}

export function haproxyConfig(layout: PatroniLayout, front: PatroniFront = 'haproxy'): string {
  const s = haproxySettings(front);
  return [
    'global',
    '    maxconn 200',
    `    stats socket ${layout.haproxy.statsSocket} mode 600 level user`,
    '',
    'defaults',
    '    mode tcp',
    `    retries ${s.retries}`,
    `    timeout client ${s.timeoutClient}`,
    `    timeout connect ${s.timeoutConnect}`,
    `    timeout server ${s.timeoutServer}`,
    `    timeout check ${s.timeoutCheck}`,
    '',
    'listen primary',
    `    bind ${layout.haproxy.host}:${layout.haproxy.port}`,
    `    ${s.httpchk}`,
    `    ${s.expect}`,
    `    ${s.defaultServer}`,
    ...layout.nodes.map((n) => `    server ${n.name} ${n.host}:${n.pgPort} maxconn 100 check port ${n.restPort}`),
    '',
  ].join('\n');
}

/** What to print beside Patroni's figures. */
export function describePeerSettings(dcs: PatroniDcs = PATRONI_DCS, front: PatroniFront = 'haproxy'): string[] {
  const s = haproxySettings(front);
  return [
    `Patroni DCS: built-in Raft (pysyncobj); ttl ${dcs.ttl} s, loop_wait ${dcs.loop_wait} s, retry_timeout ${dcs.retry_timeout} s, ` +
      `maximum_lag_on_failover ${dcs.maximum_lag_on_failover} bytes, asynchronous replication (synchronous_mode off), use_pg_rewind on, use_slots on`,
    `HAProxy${front === 'azure-ilb' ? " probing as Azure's internal load balancer does (interval 5 s, probeThreshold 1, established flows kept)" : ''}: ${s.httpchk}; ${s.expect}; ${s.defaultServer}; retries ${s.retries} (HAProxy pauses min(timeout connect, 1 s) before each retry); ` +
      `timeout connect ${s.timeoutConnect}, check ${s.timeoutCheck}, client/server ${s.timeoutClient}; no option redispatch`,
    `PostgreSQL parameters (same as our lab): ${Object.entries(SHARED_PG_PARAMETERS).map(([k, v]) => `${k}=${v}`).join(', ')}`,
  ];
}
