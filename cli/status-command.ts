import { Command, InvalidArgumentError } from 'commander';
import Table from 'cli-table3';
import { setTimeout as sleep } from 'node:timers/promises';
import { lagBytes, primariesOf, walPosition } from '../src/domain/cluster-view';
import type { ClusterStatus } from '../src/domain/health-summary';
import { isStreaming, NodeInspection } from '../src/domain/node-state';
import { apiClient, apiOptions, ApiFlags } from './switchover-command';

const MAX_ERROR = 40;
const clipped = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 3)}...` : text);

function poolOf(status: ClusterStatus, node: string): string {
  const pools = [status.pools.write.includes(node) ? 'write' : '', status.pools.read.includes(node) ? 'read' : ''].filter(Boolean);
  return pools.length ? pools.join('+') : '-';
}

/** Per node, what the health check holds about it beyond what the other columns show. */
function nodeHealth(status: ClusterStatus, node: NodeInspection): string {
  if (!node.reachable) return `unreachable: ${clipped(node.error, MAX_ERROR)}`;
  if (status.health.heldNodes.includes(node.name)) return 'held for maintenance';
  if (status.health.pendingRejoins.includes(node.name)) return 'rejoin pending';
  return 'ok';
}

export function renderClusterStatus(status: ClusterStatus): string {
  const table = new Table({ style: { head: [], border: [] }, head: ['node', 'host', 'role', 'timeline', 'LSN', 'lag (bytes)', 'streaming', 'pool', 'health'] });
  const primaries = primariesOf(status);
  const primaryLsn = primaries.length === 1 ? (primaries[0]?.currentLsn ?? null) : null;
  for (const node of status.nodes) {
    const role = node.reachable ? node.role : 'down';
    const streaming = node.reachable && node.role === 'standby' ? (isStreaming(node) ? 'yes' : 'NO') : '-';
    const timeline = node.reachable ? node.timeline : '-';
    table.push([node.name, `${node.host}:${node.port}`, role, timeline, walPosition(node) ?? '-', lagBytes(node, primaryLsn) ?? '-', streaming, poolOf(status, node.name), nodeHealth(status, node)]);
  }
  const { health } = status;
  const verdict = health.verdict ? `${health.verdict.toUpperCase()} — ${health.summary ?? ''} (checked ${health.checkedAt ?? '?'})` : 'no health check has run yet';
  const lines = [table.toString(), `health: ${verdict}`];
  if (health.maintenance) lines.push('maintenance mode ON: the health check reports but never acts');
  if (health.suppressed) lines.push(`held back: ${health.suppressed}`);
  for (const finding of health.findings) lines.push(`  - ${finding}`);
  return lines.join('\n');
}

const CLEAR_SCREEN = '\x1b[H\x1b[2J';

function seconds(value: string): number {
  const parsed = Number(value);
  if (!(parsed >= 1 && parsed <= 3600)) throw new InvalidArgumentError('give the refresh interval in seconds, 1-3600');
  return parsed;
}

/** `pg-failover status <cluster>`: every node's role, position, lag, streaming and pool, and the health verdict. */
export function statusCommand(): Command {
  return apiOptions(new Command('status'))
    .description('the cluster now: node, host, role, timeline, LSN, lag, streaming, pool membership and the health verdict')
    .argument('<cluster>', 'cluster name from the configuration')
    .option('--watch [seconds]', 'redraw in place every few seconds until Ctrl-C (default 2)', seconds)
    .option('--json', 'print the API answer as JSON (one object per refresh with --watch)')
    .action(async (cluster: string, flags: ApiFlags & { watch?: number | true; json?: boolean }) => {
      const api = apiClient(flags);
      const render = (status: ClusterStatus) => (flags.json ? `${JSON.stringify(status, null, flags.watch ? undefined : 2)}\n` : `${renderClusterStatus(status)}\n`);
      if (!flags.watch) {
        process.stdout.write(render(await api.status(cluster)));
        return;
      }
      const intervalMs = (flags.watch === true ? 2 : flags.watch) * 1000;
      for (;;) {
        try {
          const frame = render(await api.status(cluster));
          process.stdout.write(flags.json ? frame : `${CLEAR_SCREEN}${new Date().toISOString()}  pg-failover status ${cluster} (every ${intervalMs / 1000} s, Ctrl-C to stop)\n${frame}`);
        } catch (error) {
          // A watch runs on through what an operator watches for (a failover, the app restarting):
          // the failed read is said under the last frame, and the next one tries again.
          process.stderr.write(`pg-failover: ${(error as Error).message}\n`);
        }
        await sleep(intervalMs);
      }
    });
}
