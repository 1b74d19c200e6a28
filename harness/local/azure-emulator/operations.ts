import { randomUUID } from 'node:crypto';
import { AzureHttpError } from './http-kit';

interface Operation {
  id: string;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  startTime: string;
  endTime?: string;
  error?: { code: string; message: string };
  /** Body of the final GET on the Location URL (e.g. the Run Command result); undefined means none. */
  result?: unknown;
  retryAfterSeconds: number | undefined;
  statusUrl: string;
  resultUrl: string;
}

export interface OperationHandle {
  /** Headers for the 201/202 answer that starts the operation. */
  headers(options?: { location?: boolean }): Record<string, string>;
  succeed(result?: unknown): void;
  fail(code: string, message: string): void;
}

/**
 * Azure's asynchronous operation protocol: the start answers with Azure-AsyncOperation (status
 * document: InProgress → Succeeded/Failed) and Location (202 until done, then the result).
 */
export class AsyncOperations {
  private readonly operations = new Map<string, Operation>();

  constructor(private readonly endpoint: () => string) {}

  begin(scope: { subscriptionId: string; provider: string; location: string; apiVersion: string }, retryAfterSeconds: number | undefined): OperationHandle {
    const id = randomUUID();
    const base = `${this.endpoint()}/subscriptions/${scope.subscriptionId}/providers/${scope.provider}/locations/${scope.location}`;
    const apiVersion = `api-version=${encodeURIComponent(scope.apiVersion)}`;
    const operation: Operation = {
      id,
      status: 'InProgress',
      startTime: new Date().toISOString(),
      retryAfterSeconds,
      statusUrl: `${base}/operations/${id}?${apiVersion}`,
      resultUrl: `${base}/operationResults/${id}?${apiVersion}`,
    };
    this.operations.set(id, operation);
    const finish = (status: 'Succeeded' | 'Failed') => {
      operation.status = status;
      operation.endTime = new Date().toISOString();
    };
    return {
      headers: (options = { location: true }) => ({
        'Azure-AsyncOperation': operation.statusUrl,
        ...(options.location ? { Location: operation.resultUrl } : {}),
        ...(retryAfterSeconds === undefined ? {} : { 'Retry-After': String(retryAfterSeconds) }),
      }),
      succeed: (result) => {
        operation.result = result;
        finish('Succeeded');
      },
      fail: (code, message) => {
        operation.error = { code, message };
        finish('Failed');
      },
    };
  }

  /** GET on the Azure-AsyncOperation URL. */
  status(id: string): { body: unknown; headers: Record<string, string> } {
    const operation = this.get(id);
    return {
      body: { name: operation.id, status: operation.status, startTime: operation.startTime, ...(operation.endTime ? { endTime: operation.endTime } : {}), ...(operation.error ? { error: operation.error } : {}) },
      headers: this.retryAfter(operation),
    };
  }

  /** GET on the Location URL: 202 while running, then 200 with the result (or the error). */
  result(id: string): { status: number; body: unknown; headers: Record<string, string> } {
    const operation = this.get(id);
    if (operation.status === 'InProgress') return { status: 202, body: undefined, headers: { Location: operation.resultUrl, ...this.retryAfter(operation) } };
    if (operation.status === 'Failed') return { status: 500, body: { error: operation.error }, headers: {} };
    return { status: 200, body: operation.result, headers: {} };
  }

  private retryAfter(operation: Operation): Record<string, string> {
    return operation.status === 'InProgress' && operation.retryAfterSeconds !== undefined ? { 'Retry-After': String(operation.retryAfterSeconds) } : {};
  }

  private get(id: string): Operation {
    const operation = this.operations.get(id);
    if (!operation) throw new AzureHttpError(404, 'OperationNotFound', `The operation '${id}' was not found.`);
    return operation;
  }
}
