import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { InvalidInputError } from '../../src/domain/errors';
import { RuleProbes } from './tcp-load-balancer';

export const DEFAULT_NODE_NAMES = ['pg1', 'pg2', 'pg3'];

/** Where a lab lives and which loopback addresses it uses (127.<block>.x so labs never collide). */
export interface LabOptions {
  stateDir: string;
  /** Second and third octets of the lab's loopback addresses, e.g. "10.0" → 127.10.0.x. */
  addressBlock: string;
  port: number;
  nodeNames: string[];
  /**
   * Synchronous replication: the primary's synchronous_standby_names, e.g. "ANY 1 (pg1, pg2, pg3)"
   * (a commit is acknowledged once one standby has flushed it, so a failover to the standby with
   * the most WAL loses nothing). Unset: asynchronous replication.
   */
  synchronousStandbyNames?: string;
  /**
   * Starts the load balancer in probe mode: new connections go only to pool members whose HTTP probe
   * (on each node's own address) answers 200. Unset: pool mode. See `labProbes` for the defaults.
   */
  ilbProbes?: LabProbeOptions;
}

export interface LabProbeOptions {
  /** Default 8432, where the node agent serves its probes. */
  port?: number;
  /** Defaults /primary and /replica. */
  writePath?: string;
  readPath?: string;
  /** Default 5000 (Azure's minimum); tests may go lower. */
  intervalMs?: number;
  /** Default 1. */
  probeThreshold?: number;
  /** Default: the interval. */
  timeoutMs?: number;
}

export interface LabNodeLayout {
  name: string;
  host: string;
  port: number;
  dir: string;
  dataDir: string;
  socketDir: string;
  logFile: string;
  passFile: string;
  /** The server's TLS certificate and key, beside the data directory so that a re-clone keeps them. */
  certFile: string;
  keyFile: string;
}

export interface LabLayout {
  stateDir: string;
  manifestFile: string;
  /** The lab's certificate authority: every server's certificate is signed by it (clients verify with verify-full). */
  caFile: string;
  nodes: LabNodeLayout[];
  ilb: { write: { host: string; port: number }; read: { host: string; port: number }; control: { host: string; port: number }; probes?: RuleProbes };
  ilbPidFile: string;
  ilbLogFile: string;
  ilbStateFile: string;
}

export function defaultLabOptions(env: NodeJS.ProcessEnv = process.env): LabOptions {
  return {
    stateDir: env.PG_FAILOVER_LAB_DIR ?? join(tmpdir(), `pg-failover-lab-${process.getuid?.() ?? 'user'}`),
    addressBlock: env.PG_FAILOVER_LAB_BLOCK ?? '10.0',
    port: 5432,
    nodeNames: DEFAULT_NODE_NAMES,
  };
}

/** The load balancer's probe settings for the lab's probe mode, defaults filled in. */
export function labProbes(options: LabProbeOptions): RuleProbes {
  const { port = 8432, writePath = '/primary', readPath = '/replica', intervalMs = 5000, probeThreshold = 1, timeoutMs } = options;
  const shared = { port, intervalMs, probeThreshold, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
  return { write: { ...shared, path: writePath }, read: { ...shared, path: readPath } };
}

export function labLayout(options: LabOptions): LabLayout {
  if (!/^\d{1,3}\.\d{1,3}$/.test(options.addressBlock) || options.addressBlock.split('.').some((octet) => Number(octet) > 255)) {
    throw new InvalidInputError(`address block "${options.addressBlock}" must be two octets like "10.0" (the lab then uses 127.10.0.x)`);
  }
  const address = (last: number) => `127.${options.addressBlock}.${last}`;
  const nodes = options.nodeNames.map((name, index) => {
    const dir = join(options.stateDir, name);
    return {
      name,
      host: address(11 + index),
      port: options.port,
      dir,
      dataDir: join(dir, 'data'),
      socketDir: join(dir, 'run'),
      logFile: join(dir, 'postgresql.log'),
      passFile: join(dir, 'pgpass'),
      certFile: join(dir, 'server.crt'),
      keyFile: join(dir, 'server.key'),
    };
  });
  return {
    stateDir: options.stateDir,
    manifestFile: join(options.stateDir, 'lab.json'),
    caFile: join(options.stateDir, 'tls', 'ca.pem'),
    nodes,
    ilb: {
      write: { host: address(1), port: options.port },
      read: { host: address(2), port: options.port },
      control: { host: address(1), port: 7070 },
      ...(options.ilbProbes ? { probes: labProbes(options.ilbProbes) } : {}),
    },
    ilbPidFile: join(options.stateDir, 'ilb.pid'),
    ilbLogFile: join(options.stateDir, 'ilb.log'),
    ilbStateFile: join(options.stateDir, 'ilb.json'),
  };
}
