import { Command } from 'commander';
import { apiClient, apiOptions, followOperation, renderOutcome, renderSteps } from './switchover-command';

/** `pg-failover failover <cluster> [--to node] [--accept-data-loss]`: a manual unplanned failover, followed to its end. */
export function failoverCommand(): Command {
  return apiOptions(new Command('failover'))
    .description('unplanned failover: fence the primary, promote the best standby within the loss bound, repoint, rejoin')
    .argument('<cluster>', 'cluster name from the configuration')
    .option('--to <node>', 'the standby to promote (default: the best one)')
    .option('--accept-data-loss', 'promote even if the standby is further behind the last known primary position than maxLagBytesForFailover')
    .option('--reason <text>', 'why (shown in the operation report)')
    .action(async (cluster: string, flags: { url: string; key?: string; to?: string; acceptDataLoss?: boolean; reason?: string }) => {
      const api = apiClient(flags);
      const body = { ...(flags.to ? { target: flags.to } : {}), ...(flags.acceptDataLoss ? { acceptDataLoss: true } : {}), ...(flags.reason ? { reason: flags.reason } : {}) };
      const { status, body: answer } = await api.request('POST', `clusters/${encodeURIComponent(cluster)}/failover`, body);
      if (status !== 202) throw new Error(`failover refused (${status}): ${String(answer.detail ?? JSON.stringify(answer))}`);
      const operationId = String(answer.operationId);
      process.stdout.write(`failover ${operationId} started\n`);
      const report = await followOperation(api, cluster, operationId, (line) => process.stdout.write(`${line}\n`));
      process.stdout.write(`${renderSteps(report)}\n${renderOutcome(report)}\n`);
      if (report.outcome !== 'completed') process.exitCode = 1;
    });
}
