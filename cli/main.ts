import { Command } from 'commander';
import { FailoverError } from '../src/domain/errors';
import { labCommand } from '../harness/lab/lab-command';
import { switchoverCommand } from './switchover-command';
import { failoverCommand } from './failover-command';
import { maintenanceCommand } from './maintenance-command';
import { statusCommand } from './status-command';
import { historyCommand } from './history-command';
import { showCommand } from './show-command';

export function program(): Command {
  return new Command('pg-failover')
    .description('Keeps a PostgreSQL cluster on Azure VMs writable through switchovers and failovers')
    .addCommand(labCommand())
    .addCommand(switchoverCommand())
    .addCommand(failoverCommand())
    .addCommand(maintenanceCommand())
    .addCommand(statusCommand())
    .addCommand(historyCommand())
    .addCommand(showCommand());
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    const detail = error instanceof FailoverError && Object.keys(error.context).length ? ` ${JSON.stringify(error.context)}` : '';
    process.stderr.write(`pg-failover: ${(error as Error).message}${detail}\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) void main(process.argv);
