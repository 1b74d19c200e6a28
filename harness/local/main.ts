import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Command } from 'commander';
import { startLocalStack } from './stack';
import { projectRoot } from '../util/project-root';

interface LocalFlags {
  host: string;
  port: string;
  addressBlock?: string;
  latency: 'zero' | 'realistic';
  keepLab?: boolean;
}

/**
 * `npm run local`: the app running locally as `func start` would run it in Azure — against the
 * lab (a real 3-node cluster) and the local Azure emulator — until Ctrl-C.
 */
async function local(flags: LocalFlags): Promise<void> {
  const functionKey = process.env.PG_FAILOVER_KEY || randomBytes(16).toString('hex');
  const print = (line: string) => process.stdout.write(`${line}\n`);
  const stack = await startLocalStack({
    stateDir: join(projectRoot(), '.state', 'local'),
    lab: flags.addressBlock ? { addressBlock: flags.addressBlock } : {},
    latency: flags.latency,
    listen: { host: flags.host, port: Number(flags.port) },
    functionKey,
    scheduleTimers: true,
    announce: print,
  });
  const { write, read } = stack.lab.layout.ilb;
  print(`lab: ${stack.lab.layout.nodes.map((n) => `${n.name} ${n.host}:${n.port}`).join(', ')} (state in ${stack.lab.layout.stateDir})`);
  print(`load balancer: write ${write.host}:${write.port}, read ${read.host}:${read.port}`);
  print(`app: ${stack.origin}/api  (x-functions-key: ${functionKey})`);
  print(`try: PG_FAILOVER_URL=${stack.origin} PG_FAILOVER_KEY=${functionKey} npx pg-failover switchover ${stack.cluster.name} --dry-run`);
  print('ready; Ctrl-C stops everything');

  const stop = () => {
    print('stopping…');
    void stack.stop({ keepLab: !!flags.keepLab }).then(
      () => process.exit(0),
      (error: Error) => {
        process.stderr.write(`stop failed: ${error.message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

new Command('local')
  .description('run the app locally against the lab and the local Azure emulator')
  .option('--host <address>', 'where the app listens', '127.0.0.1')
  .option('--port <port>', 'the app port', '7071')
  .option('--address-block <a.b>', 'the lab loopback block (default: $PG_FAILOVER_LAB_BLOCK or 10.0)')
  .option('--latency <profile>', 'local Azure latencies: zero or realistic', 'zero')
  .option('--keep-lab', 'leave the lab running on exit')
  .action(local)
  .parseAsync(process.argv)
  .catch((error: Error) => {
    process.stderr.write(`local failed: ${error.message}\n`);
    process.exit(1);
  });
