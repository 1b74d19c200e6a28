import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Thrown by handlers to answer with an Azure-shaped error: {"error": {"code", "message"}}. */
export class AzureHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export class RequestContext {
  readonly url: URL;
  readonly method: string;
  status = 0;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly endpoint: string,
  ) {
    this.url = new URL(req.url ?? '/', endpoint);
    this.method = (req.method ?? 'GET').toUpperCase();
  }

  header(name: string): string | undefined {
    const value = this.req.headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  }

  query(name: string): string | undefined {
    for (const [k, v] of this.url.searchParams) if (k.toLowerCase() === name.toLowerCase()) return v;
    return undefined;
  }

  /** The raw body; 413 past MAX_BODY_BYTES. */
  async body(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) throw new AzureHttpError(413, 'RequestEntityTooLarge', 'The request body is too large.');
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** The JSON body; 400 InvalidRequestContent when it is not JSON (ARM's answer to a malformed body). */
  async json(): Promise<unknown> {
    const text = (await this.body()).toString('utf8');
    if (!text.trim()) return undefined;
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new AzureHttpError(400, 'InvalidRequestContent', `The request content was invalid and could not be deserialized: '${(error as Error).message}'.`);
    }
  }

  send(status: number, body?: unknown, headers: Record<string, string> = {}): void {
    this.status = status;
    const payload = body === undefined ? '' : JSON.stringify(body);
    this.res.writeHead(status, {
      ...(payload ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
      'Content-Length': Buffer.byteLength(payload).toString(),
      'x-ms-request-id': randomUUID(),
      ...headers,
    });
    this.res.end(payload);
  }

  sendError(error: AzureHttpError): void {
    this.send(error.status, { error: { code: error.code, message: error.message } }, error.headers);
  }
}

/** Schema checks on request bodies, answering 400 like ARM does for an invalid request. */
export function requireObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AzureHttpError(400, 'InvalidRequestFormat', `Cannot parse the request: ${what} must be a JSON object.`);
  return value as Record<string, unknown>;
}

export function optionalArray(value: unknown, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new AzureHttpError(400, 'InvalidRequestFormat', `Cannot parse the request: ${what} must be an array.`);
  return value;
}

export function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new AzureHttpError(400, 'InvalidRequestFormat', `Cannot parse the request: ${what} must be a string.`);
  return value;
}

export function notFound(type: string, name: string, resourceGroup: string): AzureHttpError {
  return new AzureHttpError(404, 'ResourceNotFound', `The Resource '${type}/${name}' under resource group '${resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);
}
