import { Command } from 'commander';
import Table from 'cli-table3';
import { Lab, LabStatus } from './lab';
import { LabOptions } from './layout';

interface LabFlags {
  stateDir?: string;
  addressBlock?: string;
}

function labOptions(flags: LabFlags): Partial<LabOptions> {
  return {
    ...(flags.stateDir ? { stateDir: flags.stateDir } : {}),
    ...(flags.addressBlock ? { addressBlock: flags.addressBlock } : {}),
  };
}

export function renderStatus(status: LabStatus): string {
  const table = new Table({ style: { head: [], border: [] }, head: ['node', 'address', 'role', 'timeline', 'LSN', 'lag (bytes)', 'streaming', 'pool'] });
  for (const node of status.nodes) {
    const pools = [status.ilb.writePool.includes(node.name) && 'write', status.ilb.readPool.includes(node.name) && 'read'].filter(Boolean).join('+') || '-';
    table.push([node.name, `${node.host}:${node.port}`, node.role, node.timeline ?? '-', node.lsn ?? '-', node.lagBytes ?? '-', node.role === 'standby' ? (node.streaming ? 'yes' : 'NO') : '-', pools]);
  }
  const { write, read, probes } = status.ilb;
  const probeLines = Object.entries(probes ?? {}).map(([rule, states]) => {
    const backends = Object.entries(states).map(([name, s]) => `${name} ${s.up ? 'up' : 'down'} (${s.lastStatus ?? s.lastError ?? 'not probed yet'})`);
    return `${rule} probe: ${backends.join(', ') || 'empty pool'}\n`;
  });
  return `${table.toString()}\nload balancer: write ${write.host}:${write.port} → [${status.ilb.writePool.join(', ')}]   read ${read.host}:${read.port} → [${status.ilb.readPool.join(', ')}]\n${probeLines.join('')}`;
}

export function labCommand(): Command {
  const lab = new Command('lab').description('a real 3-node PostgreSQL cluster on loopback behind a local load balancer');
  const withLabFlags = (command: Command) =>
    command
      .option('--state-dir <dir>', 'where the lab keeps its data (default: $PG_FAILOVER_LAB_DIR or a folder under the temp directory)')
      .option('--address-block <a.b>', 'loopback addresses 127.<a.b>.x to use (default: $PG_FAILOVER_LAB_BLOCK or 10.0)');

  withLabFlags(lab.command('up').description('create (or restart) the lab: a primary and two streaming standbys, and the load balancer')).action(async (flags: LabFlags) => {
    const running = await Lab.up(labOptions(flags));
    process.stdout.write(renderStatus(await running.status()));
  });

  withLabFlags(lab.command('status').description('roles, positions, lag and pool membership of every node'))
    .option('--json', 'print machine-readable JSON')
    .action(async (flags: LabFlags & { json?: boolean }) => {
      const existing = Lab.open(labOptions(flags));
      if (!existing) throw new Error('no lab here: run `npm run lab -- up` first (or pass the same --state-dir)');
      const status = await existing.status();
      process.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
    });

  withLabFlags(lab.command('down').description('stop every lab process and remove the state directory')).action(async (flags: LabFlags) => {
    const removed = await Lab.down(labOptions(flags));
    process.stdout.write(removed ? 'lab removed\n' : 'no lab to remove\n');
  });
  return lab;
}
