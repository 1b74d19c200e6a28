import { Command } from 'commander';
import Table from 'cli-table3';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { OperationReport } from '../src/domain/operation';
import { FailoverApiClient } from './api-client';

export function renderSteps(report: OperationReport): string {
  const table = new Table({ style: { head: [], border: [] }, head: ['step', 'started', 'duration', 'result', 'detail'] });
  for (const step of report.steps) {
    const detail = step.detail === undefined ? '' : JSON.stringify(step.detail);
    table.push([step.name, step.startedAt.slice(11, 23), step.durationMs === undefined ? '…' : `${step.durationMs} ms`, step.result, detail.length > 70 ? `${detail.slice(0, 67)}...` : detail]);
  }
  return table.toString();
}

export function renderOutcome(report: OperationReport): string {
  const lines = [`${report.kind} ${report.operationId}: ${report.outcome.toUpperCase()}${report.reason ? ` — ${report.reason}` : ''}`];
  if (report.oldPrimary) lines.push(`old primary: ${report.oldPrimary}   new primary: ${report.newPrimary ?? '-'}   rejoin: ${report.rejoinMethod ?? '-'}`);
  for (const problem of report.problems) lines.push(`problem: ${problem}`);
  return lines.join('\n');
}

/** Polls an operation, printing each step as it starts, until it ends. */
export async function followOperation(api: FailoverApiClient, cluster: string, operationId: string, print: (line: string) => void): Promise<OperationReport> {
  let announced = 0;
  for (;;) {
    const report = await api.operation(cluster, operationId);
    for (; announced < report.steps.length; announced++) print(`  → ${report.steps[announced].name}`);
    if (report.outcome !== 'running') return report;
    await sleep(250);
  }
}

export interface ApiFlags {
  url: string;
  keyFile?: string;
}

/** The key never comes from the command line, where ps and the shell history would show it. */
export function apiOptions(command: Command): Command {
  return command
    .option('--url <url>', 'the Function App (or `npm run local`) base URL', process.env.PG_FAILOVER_URL ?? 'http://127.0.0.1:7071')
    .option('--key-file <path>', 'a file holding the function key (default: the key in $PG_FAILOVER_KEY)');
}

export function apiClient(flags: ApiFlags): FailoverApiClient {
  if (!flags.keyFile) return new FailoverApiClient(flags.url, process.env.PG_FAILOVER_KEY);
  let key: string;
  try {
    key = readFileSync(flags.keyFile, 'utf8').trim();
  } catch (error) {
    throw new Error(`--key-file ${flags.keyFile} cannot be read (${(error as Error).message}): give a file that holds the function key`);
  }
  if (!key) throw new Error(`--key-file ${flags.keyFile} is empty: put the function key in it`);
  return new FailoverApiClient(flags.url, key);
}

export function switchoverCommand(): Command {
  return apiOptions(new Command('switchover'))
    .description('planned switchover of a cluster: drain, catch up, promote, repoint, rejoin')
    .argument('<cluster>', 'cluster name from the configuration')
    .option('--to <node>', 'the standby to promote (default: the best one)')
    .option('--dry-run', 'only show the plan')
    .option('--timeout <seconds>', 'how long the candidate may take to catch up', (v) => Number(v))
    .action(async (cluster: string, flags: ApiFlags & { to?: string; dryRun?: boolean; timeout?: number }) => {
      const api = apiClient(flags);
      const body = { ...(flags.to ? { target: flags.to } : {}), ...(flags.dryRun ? { dryRun: true } : {}), ...(flags.timeout ? { timeoutSeconds: flags.timeout } : {}) };
      const { status, body: answer } = await api.request('POST', `clusters/${encodeURIComponent(cluster)}/switchover`, body);
      if (status === 200) {
        process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
        return;
      }
      if (status !== 202) throw new Error(`switchover refused (${status}): ${String(answer.detail ?? JSON.stringify(answer))}`);
      const operationId = String(answer.operationId);
      process.stdout.write(`switchover ${operationId} started\n`);
      const report = await followOperation(api, cluster, operationId, (line) => process.stdout.write(`${line}\n`));
      process.stdout.write(`${renderSteps(report)}\n${renderOutcome(report)}\n`);
      if (report.outcome !== 'completed') process.exitCode = 1;
    });
}
