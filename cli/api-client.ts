import { OperationReport } from '../src/domain/operation';

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

  async operation(cluster: string, operationId: string): Promise<OperationReport> {
    const { status, body } = await this.request('GET', `clusters/${encodeURIComponent(cluster)}/operations/${encodeURIComponent(operationId)}`);
    if (status !== 200) throw new Error(`reading operation ${operationId} failed (${status}): ${String(body.detail ?? JSON.stringify(body))}`);
    return body as unknown as OperationReport;
  }
}
