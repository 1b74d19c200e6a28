import { Command } from 'commander';
import { apiClient, apiOptions, ApiFlags, renderOutcome, renderSteps } from './switchover-command';

/** `pg-failover show <cluster> <operation>`: one operation's steps and outcome, as switchover prints them at its end. */
export function showCommand(): Command {
  return apiOptions(new Command('show'))
    .description("one operation: what started it, its step table and its outcome (running ones show their progress so far)")
    .argument('<cluster>', 'cluster name from the configuration')
    .argument('<operation>', 'the operation id (pg-failover history lists them)')
    .option('--json', 'print the operation report as JSON')
    .action(async (cluster: string, operationId: string, flags: ApiFlags & { json?: boolean }) => {
      const operation = await apiClient(flags).operation(cluster, operationId);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(operation, null, 2)}\n`);
        return;
      }
      process.stdout.write(`started ${operation.startedAt} by ${operation.trigger}\n${renderSteps(operation)}\n${renderOutcome(operation)}\n`);
    });
}
