import { LocalStack } from '../../harness/local/stack';
import { OperationReport, operationGateId } from '../../src/domain/operation';
import { api } from './stack';

/** Starts a switchover through the HTTP API and waits (on the runtime's events) until it ends. */
export async function switchoverAndWait(stack: LocalStack, body: Record<string, unknown> = {}): Promise<OperationReport> {
  const started = await api(stack, 'POST', `clusters/${stack.cluster.name}/switchover`, body);
  if (started.status !== 202) throw new Error(`switchover not started (${started.status}): ${JSON.stringify(started.body)}`);
  return waitForOperation(stack, String(started.body.operationId));
}

export async function waitForOperation(stack: LocalStack, operationId: string): Promise<OperationReport> {
  await stack.runtime.waitForInstance(operationGateId(stack.cluster.name), { timeoutMs: 300_000 });
  const { status, body } = await api(stack, 'GET', `clusters/${stack.cluster.name}/operations/${operationId}`);
  if (status !== 200) throw new Error(`operation ${operationId}: ${status} ${JSON.stringify(body)}`);
  return body as unknown as OperationReport;
}
