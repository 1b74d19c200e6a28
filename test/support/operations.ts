import { LocalStack } from '../../harness/local/stack';
import { OperationReport } from '../../src/domain/operation';
import { findLostCommits, WriteLoad, type WriteLoadReport } from '../../harness/load/write-load';
import { api } from './stack';

/** Starts a switchover through the HTTP API and waits (on the runtime's events) until it ends. */
export async function switchoverAndWait(stack: LocalStack, body: Record<string, unknown> = {}): Promise<OperationReport> {
  const started = await api(stack, 'POST', `clusters/${stack.cluster.name}/switchover`, body);
  if (started.status !== 202) throw new Error(`switchover not started (${started.status}): ${JSON.stringify(started.body)}`);
  return waitForOperation(stack, String(started.body.operationId));
}

export async function waitForOperation(stack: LocalStack, operationId: string): Promise<OperationReport> {
  await stack.runtime.waitForInstance(operationId, { timeoutMs: 300_000 });
  const { status, body } = await api(stack, 'GET', `clusters/${stack.cluster.name}/operations/${operationId}`);
  if (status !== 200) throw new Error(`operation ${operationId}: ${status} ${JSON.stringify(body)}`);
  return body as unknown as OperationReport;
}

/**
 * A switchover while a client writes through the write frontend: the report, what the client got
 * acknowledged, and which of those commits the new primary lacks (S1: none).
 */
export async function switchoverUnderLoad(stack: LocalStack, body: Record<string, unknown> = {}): Promise<{ report: OperationReport; writes: WriteLoadReport; lost: number[] }> {
  const load = new WriteLoad(stack.lab.appEndpoint('write'));
  await load.prepare();
  load.start();
  await load.waitForCommits(30);
  const report = await switchoverAndWait(stack, body);
  await load.waitForCommits(30);
  const writes = await load.stop();
  return { report, writes, lost: await findLostCommits(stack.lab.appEndpoint('write'), writes.acknowledged) };
}
