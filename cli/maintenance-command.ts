import { Command } from 'commander';
import { apiClient, apiOptions } from './switchover-command';

/** `pg-failover maintenance <cluster> --on|--off`: pause or resume the health check's automatic actions. */
export function maintenanceCommand(): Command {
  return apiOptions(new Command('maintenance'))
    .description('pause (--on) or resume (--off) automatic failover, fencing and rejoin for a cluster; health checks keep reporting')
    .argument('<cluster>', 'cluster name from the configuration')
    .option('--on', 'enter maintenance: the health check reports but never acts')
    .option('--off', 'leave maintenance: automatic actions resume')
    .option('--reason <text>', 'why (kept in the cluster health state)')
    .action(async (cluster: string, flags: { url: string; key?: string; on?: boolean; off?: boolean; reason?: string }) => {
      if (!!flags.on === !!flags.off) throw new Error('say --on or --off (exactly one)');
      const api = apiClient(flags);
      const { status, body } = await api.request('POST', `clusters/${encodeURIComponent(cluster)}/maintenance`, { enabled: !!flags.on, ...(flags.reason ? { reason: flags.reason } : {}) });
      if (status === 200) {
        const maintenance = body.maintenance as { enabled: boolean; changedAt: string };
        process.stdout.write(`cluster ${cluster}: maintenance ${maintenance.enabled ? 'ON — automatic actions paused' : 'OFF — automatic actions resumed'} (${maintenance.changedAt})\n`);
        return;
      }
      if (status === 202) {
        process.stdout.write(`cluster ${cluster}: maintenance ${flags.on ? 'on' : 'off'} requested; ${String(body.detail)}\n`);
        return;
      }
      throw new Error(`maintenance change refused (${status}): ${String(body.detail ?? JSON.stringify(body))}`);
    });
}
