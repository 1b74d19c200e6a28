import { execFileSync } from 'node:child_process';
import { isRoot } from '../util/exec';

/**
 * A VM that is off, or has vanished, is silent on Azure: nothing answers a new connection (no
 * refusal, the SYN goes unanswered) and its established flows neither close nor reset, so peers
 * notice only by their own timeouts (docs/azure-platform.md §20). On loopback a killed process's
 * kernel closes its connections at once and a closed port refuses. The lab silences a node first,
 * with nftables: every packet to or from its address, and its server processes' own outgoing
 * connections (a standby's stream from its upstream), whose source is 127.0.0.1, are dropped.
 *
 * One table for every lab on the machine; each silenced node has its address in `silent` and its
 * flows in a set of its own, so that nodes of several labs come and go independently.
 */
const TABLE = 'pgfo_lab';

export class NetworkSilenceUnavailableError extends Error {
  constructor(reason: string) {
    super(
      `the lab cannot make a powered-off VM silent (${reason}): it drops the node's packets with nftables, which needs root and the nft command (.ci/run installs the nftables package; apt-get install nftables)`,
    );
    this.name = 'NetworkSilenceUnavailableError';
  }
}

/** Silences `address`: first the flows `pids` own (when they die their kernel would close them), then everything to or from it. */
export function silenceNode(address: string, pids: readonly number[]): void {
  ensureTable();
  const flows = tcpFlowsOf(new Set(pids));
  const set = flowSet(address);
  nft(['add set inet', TABLE, set, '{ type ipv4_addr . inet_service . ipv4_addr . inet_service; }'].join(' '));
  if (flows.length > 0) {
    // Both directions of each flow: the node's packets and its peer's retransmissions.
    const elements = flows.flatMap((f) => [`${f.local} . ${f.localPort} . ${f.peer} . ${f.peerPort}`, `${f.peer} . ${f.peerPort} . ${f.local} . ${f.localPort}`]);
    nft(`add element inet ${TABLE} ${set} { ${elements.join(', ')} }`);
  }
  nft(`add rule inet ${TABLE} output ip saddr . tcp sport . ip daddr . tcp dport @${set} drop`);
  nft(`add element inet ${TABLE} silent { ${address} }`);
}

/** `address` answers again, as a VM that booted: its old flows, if a peer still sends on them, are reset. */
export function unsilenceNode(address: string): void {
  if (!tableExists()) return;
  if (isSilenced(address)) nft(`delete element inet ${TABLE} silent { ${address} }`);
  const set = flowSet(address);
  const rules = nft(`-a list chain inet ${TABLE} output`);
  for (const handle of rules.split('\n').filter((line) => line.includes(`@${set} `)).map((line) => /# handle (\d+)/.exec(line)?.[1])) {
    if (handle) nft(`delete rule inet ${TABLE} output handle ${handle}`);
  }
  if (nft(`list table inet ${TABLE}`).includes(`set ${set} {`)) nft(`delete set inet ${TABLE} ${set}`);
}

/** Whether the lab silences `address` now. */
export function isSilenced(address: string): boolean {
  if (!tableExists()) return false;
  return new RegExp(`[{ ]${address.replace(/\./g, '\\.')}[,} ]`).test(nft(`list set inet ${TABLE} silent`));
}

function ensureTable(): void {
  if (!isRoot()) throw new NetworkSilenceUnavailableError('not running as root');
  if (tableExists()) return;
  nftScript(
    [
      `add table inet ${TABLE}`,
      `add set inet ${TABLE} silent { type ipv4_addr; }`,
      `add chain inet ${TABLE} output { type filter hook output priority 0; policy accept; }`,
      `add rule inet ${TABLE} output ip saddr @silent drop`,
      `add rule inet ${TABLE} output ip daddr @silent drop`,
    ].join('\n'),
  );
}

function tableExists(): boolean {
  if (!isRoot()) return false;
  try {
    return nft('list tables inet').split('\n').includes(`table inet ${TABLE}`);
  } catch (error) {
    if (error instanceof NetworkSilenceUnavailableError) return false;
    throw error;
  }
}

function flowSet(address: string): string {
  return `flows_${address.replace(/\./g, '_')}`;
}

/** One nft command (its words split at spaces: nft joins them again). */
function nft(command: string): string {
  return nftRun(command.split(' '));
}

function nftScript(script: string): string {
  return nftRun(['-f', '-'], script);
}

function nftRun(args: string[], input?: string): string {
  try {
    return execFileSync('nft', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') throw new NetworkSilenceUnavailableError('no nft command');
    if (/Operation not permitted/.test(String(failure.stderr))) throw new NetworkSilenceUnavailableError('nft is not permitted here (no CAP_NET_ADMIN)');
    throw new Error(`nft ${args.join(' ')} failed: ${String(failure.stderr ?? failure.message).trim()}`);
  }
}

/** `pids` and their descendants, e.g. a postmaster and its backends, or a process group's leader and what it started. */
export function withDescendants(pids: readonly number[]): number[] {
  const all = new Set<number>();
  const visit = (pid: number) => {
    if (all.has(pid)) return;
    all.add(pid);
    try {
      for (const child of execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').map(Number).filter((n) => n > 0)) visit(child);
    } catch {
      /* pgrep exits 1 when there are none */
    }
  };
  pids.forEach(visit);
  return [...all];
}

interface TcpFlow {
  local: string;
  localPort: number;
  peer: string;
  peerPort: number;
}

/** The established IPv4 TCP connections any of `pids` holds (ss names each socket's processes). */
function tcpFlowsOf(pids: ReadonlySet<number>): TcpFlow[] {
  if (pids.size === 0) return [];
  const lines = execFileSync('ss', ['-tnpH', '-4', 'state', 'established'], { encoding: 'utf8' }).split('\n');
  const flows: TcpFlow[] = [];
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    // Recv-Q Send-Q Local:Port Peer:Port users:(("postgres",pid=123,fd=9),...)
    const [local, peer] = [fields[2], fields[3]].map((endpoint) => /^([\d.]+):(\d+)$/.exec(endpoint ?? ''));
    const owners = [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    if (!local || !peer || !owners.some((pid) => pids.has(pid))) continue;
    flows.push({ local: local[1], localPort: Number(local[2]), peer: peer[1], peerPort: Number(peer[2]) });
  }
  return flows;
}
