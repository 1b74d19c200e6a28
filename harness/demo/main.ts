import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { startLocalStack, LocalStack } from '../local/stack';
import { findLostCommits, WriteLoad } from '../load/write-load';
import { FailoverApiClient } from '../../cli/api-client';
import { followOperation } from '../../cli/switchover-command';
import { DemoReport, renderDemoReport } from './report';
import { renderOutagePage } from './outage-page';

interface DemoFlags {
  json?: boolean;
  latency: 'zero' | 'realistic';
  addressBlock: string;
  target?: string;
  html?: string;
}

const say = (flags: DemoFlags, line: string) => {
  if (!flags.json) process.stdout.write(`${line}\n`);
};

/** A whole planned switchover on a local cluster under a write load, then the report. */
async function demo(flags: DemoFlags): Promise<number> {
  process.env.PG_FAILOVER_QUIET = '1';
  const stateDir = mkdtempSync(join(tmpdir(), 'pgfo-demo-'));
  const functionKey = randomBytes(16).toString('hex');
  let stack: LocalStack | undefined;
  const teardown = async () => {
    const current = stack;
    stack = undefined;
    await current?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
  const interrupt = () => {
    say(flags, 'interrupted: tearing down');
    void teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  try {
    say(flags, 'Starting a 3-node PostgreSQL lab, the local Azure emulator and the local Functions runtime…');
    stack = await startLocalStack({
      stateDir,
      // Its own directory: under root the lab's servers run as postgres, which must reach it.
      lab: { stateDir: mkdtempSync(join(tmpdir(), 'pgfo-demo-lab-')), addressBlock: flags.addressBlock },
      latency: flags.latency,
      listen: { host: `127.${flags.addressBlock}.1`, port: 7071 },
      functionKey,
      log: () => undefined,
      announce: (line) => say(flags, `  ${line}`),
    });
    say(flags, `  app listening on ${stack.origin}/api (function key required)`);

    const load = new WriteLoad(stack.lab.appEndpoint('write'));
    await load.prepare();
    load.start();
    await load.waitForCommits(200);
    say(flags, 'Write load running through the load balancer write frontend; starting the switchover:');

    const api = new FailoverApiClient(stack.origin!, functionKey);
    const requestedAt = Date.now();
    const started = performance.now();
    const { status, body } = await api.request('POST', `clusters/${stack.cluster.name}/switchover`, flags.target ? { target: flags.target } : {});
    if (status !== 202) throw new Error(`the switchover was refused (${status}): ${String(body.detail ?? JSON.stringify(body))}`);
    const operation = await followOperation(api, stack.cluster.name, String(body.operationId), (line) => say(flags, line));
    const switchoverDurationMs = Math.round(performance.now() - started);

    await load.waitForCommits(200);
    const writes = await load.stop();
    const lost = await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged);
    const topology = await stack.lab.waitUntilHealthy().catch(() => stack!.lab.status());

    const report: DemoReport = {
      outcome: operation.outcome,
      ...(operation.reason ? { reason: operation.reason } : {}),
      operationId: operation.operationId,
      oldPrimary: operation.oldPrimary,
      newPrimary: operation.newPrimary,
      rejoinMethod: operation.rejoinMethod,
      writeOutageMs: writes.writeOutageMs,
      acknowledgedCommits: writes.acknowledged.length,
      lostCommits: lost.length,
      failedAttempts: writes.failedAttempts,
      switchoverDurationMs,
      latencyProfile: flags.latency,
      problems: operation.problems,
      steps: operation.steps.map((s) => ({ name: s.name, startedAt: s.startedAt, durationMs: s.durationMs ?? null, result: s.result })),
      topology,
    };
    process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${renderDemoReport(report, operation)}\n`);
    if (flags.html) {
      // The load's monotonic times become ms after the request, the zero of the app's wall-clock steps.
      const sinceRequest = (at: number) => at - started;
      const outage = writes.outageFrom === null || writes.outageTo === null ? null : { from: sinceRequest(writes.outageFrom), to: sinceRequest(writes.outageTo) };
      writeFileSync(flags.html, renderOutagePage({ report, requestedAt, commits: writes.acknowledged.map((c) => ({ at: sinceRequest(c.at), server: c.server })), outage }));
      say(flags, `\nThe outage picture: ${flags.html} (open it in a browser)`);
    }
    return report.outcome === 'completed' && report.lostCommits === 0 ? 0 : 1;
  } finally {
    await teardown();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

new Command('demo')
  .description('a planned switchover on a local 3-node cluster under a write load, with its report')
  .option('--json', 'print the report as one JSON object')
  .option('--latency <profile>', 'local Azure latencies: zero, or realistic (Run Command ~20 s, pool update ~10 s)', 'zero')
  .option('--target <node>', 'the standby to promote (default: the best one)')
  .option('--address-block <a.b>', 'loopback block 127.<a.b>.x for the demo cluster', '10.5')
  .option('--html <file>', 'also write the outage picture, one self-contained HTML page: commits over time, the outage window, each step')
  .action(async (flags: DemoFlags) => {
    if (!['zero', 'realistic'].includes(flags.latency)) throw new Error(`--latency must be zero or realistic, not "${flags.latency}"`);
    process.exitCode = await demo(flags);
  })
  .parseAsync(process.argv)
  .catch((error: Error) => {
    process.stderr.write(`demo failed: ${error.message}\n`);
    process.exitCode = 1;
  });
