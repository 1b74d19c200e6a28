import type { OperationPage } from '../src/domain/operation-summary';
import type { ClusterStatus } from '../src/domain/health-summary';
import type { OperationView } from '../src/app/operations';

/** Talks to a running deployment (Azure, or `npm run local`) through the app's own HTTP API. */
export class FailoverApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly key: string | undefined,
  ) {}

  async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${this.baseUrl.replace(/\/+$/, '')}/api/${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(this.key ? { 'x-functions-key': this.key } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(120_000),
    });
    const text = await response.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = { detail: text };
    }
    return { status: response.status, body: parsed };
  }

  /** A GET that must answer 200; anything else is an error carrying the API's own detail. */
  async read<T>(path: string, what: string): Promise<T> {
    const { status, body } = await this.request('GET', path);
    if (status !== 200) throw new Error(`reading ${what} failed (${status}): ${String(body.detail ?? JSON.stringify(body))}`);
    return body as T;
  }

  operation(cluster: string, operationId: string): Promise<OperationView> {
    return this.read(`clusters/${encodeURIComponent(cluster)}/operations/${encodeURIComponent(operationId)}`, `operation ${operationId}`);
  }

  operations(cluster: string, page: { pageSize?: number; cursor?: string }): Promise<OperationPage> {
    const query = new URLSearchParams({ ...(page.pageSize === undefined ? {} : { pageSize: String(page.pageSize) }), ...(page.cursor ? { cursor: page.cursor } : {}) });
    return this.read(`clusters/${encodeURIComponent(cluster)}/operations${query.size ? `?${query}` : ''}`, `the operations of ${cluster}`);
  }

  status(cluster: string): Promise<ClusterStatus> {
    return this.read(`clusters/${encodeURIComponent(cluster)}`, `cluster ${cluster}`);
  }
}
