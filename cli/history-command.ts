import { Command, InvalidArgumentError } from 'commander';
import Table from 'cli-table3';
import { MAX_PAGE_SIZE, OperationPage, OperationSummary } from '../src/domain/operation-summary';
import { apiClient, apiOptions, ApiFlags } from './switchover-command';

const MAX_TEXT = 60;
const clipped = (text: string) => (text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 3)}...` : text);

function writeSteps(summary: OperationSummary): string {
  if (!summary.writeSteps.length) return '-';
  const total = summary.writeSteps.reduce((sum, step) => sum + (step.durationMs ?? 0), 0);
  return [...summary.writeSteps.map((step) => `${step.name} ${step.durationMs === null ? '…' : `${step.durationMs} ms`}`), `total ${total} ms`].join('\n');
}

function problems(summary: OperationSummary): string {
  const lines = [...(summary.outcome !== 'completed' && summary.reason ? [summary.reason] : []), ...summary.problems];
  return lines.length ? lines.map(clipped).join('\n') : '-';
}

/** Newest first; a multi-line cell lists the write-affecting steps, and the problems (or why it did not complete). */
export function renderHistory(page: OperationPage): string {
  if (!page.operations.length) return 'no operations';
  const table = new Table({ style: { head: [], border: [] }, head: ['operation', 'kind', 'trigger', 'started', 'outcome', 'old → new', 'write-affecting steps', 'problems'] });
  for (const op of page.operations) {
    table.push([op.operationId, op.kind, clipped(op.trigger), op.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), op.outcome, `${op.oldPrimary ?? '-'} → ${op.newPrimary ?? '-'}`, writeSteps(op), problems(op)]);
  }
  return table.toString();
}

function pageSize(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > MAX_PAGE_SIZE) throw new InvalidArgumentError(`give a whole number of operations per page, 1-${MAX_PAGE_SIZE}`);
  return parsed;
}

/** `pg-failover history <cluster>`: past operations, newest first, a page at a time. */
export function historyCommand(): Command {
  return apiOptions(new Command('history'))
    .description('past operations of a cluster, newest first: kind, trigger, start, outcome, old → new primary, write-affecting steps, problems')
    .argument('<cluster>', 'cluster name from the configuration')
    .option('--page-size <n>', `operations per page, 1-${MAX_PAGE_SIZE} (default 20)`, pageSize)
    .option('--cursor <cursor>', 'continue with older operations: the cursor the previous page printed')
    .option('--json', 'print the page as JSON ({operations, nextCursor})')
    .action(async (cluster: string, flags: ApiFlags & { pageSize?: number; cursor?: string; json?: boolean }) => {
      const page = await apiClient(flags).operations(cluster, { pageSize: flags.pageSize, cursor: flags.cursor });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${renderHistory(page)}\n`);
      if (page.nextCursor) {
        const size = flags.pageSize ? ` --page-size ${flags.pageSize}` : '';
        process.stdout.write(`older operations: pg-failover history ${cluster}${size} --cursor ${page.nextCursor}\n`);
      }
    });
}
