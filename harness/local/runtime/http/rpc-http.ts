import { HttpResponse, type HttpRequest } from '@azure/functions';
import type { RpcHttpData, RpcTypedData } from '../worker/rpc-types';
import type { PlainResponse } from './node-http';

/**
 * HTTP requests and responses in the shape the host exchanges with the worker (RpcHttp). The
 * worker's programming model builds the handler's HttpRequest from this and turns the handler's
 * result back into it, so both directions go through @azure/functions' own converters.
 */
export function rpcHttpRequest(init: {
  method: string;
  url: URL;
  headers: Record<string, string | undefined>;
  body: Buffer;
  params: Record<string, string>;
}): RpcHttpData {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(init.headers)) if (value !== undefined) headers[name] = value;
  const query: Record<string, string> = {};
  for (const [name, value] of init.url.searchParams) query[name] = value;
  return {
    method: init.method.toUpperCase(),
    url: init.url.href,
    headers,
    query,
    params: init.params,
    body: init.body.length > 0 ? { bytes: new Uint8Array(init.body) } : undefined,
  };
}

export async function rpcHttpFromHttpRequest(request: HttpRequest, params: Record<string, string>): Promise<RpcHttpData> {
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => (headers[name] = value));
  const body = ['GET', 'HEAD'].includes(request.method.toUpperCase()) ? Buffer.alloc(0) : Buffer.from(await request.arrayBuffer());
  return rpcHttpRequest({ method: request.method, url: new URL(request.url), headers, body, params });
}

/**
 * The host's rendering of a function's HTTP output: status, headers, cookies as Set-Cookie, body.
 * No output at all (handler returned nothing) becomes 204 No Content.
 */
export function plainResponseFromRpc(data: RpcTypedData | null | undefined): PlainResponse {
  const http = data?.http;
  if (!http) return { status: 204, headers: {} };
  const headers: Record<string, string | string[]> = { ...(http.headers ?? {}) };
  const cookies = (http.cookies ?? []).map(renderCookie);
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  const body = http.body?.bytes ? Buffer.from(http.body.bytes) : http.body?.string ? Buffer.from(http.body.string) : undefined;
  return { status: Number(http.statusCode ?? 200), headers, body };
}

export function toHttpResponse(plain: PlainResponse): HttpResponse {
  const headers = new Headers();
  for (const [name, value] of Object.entries(plain.headers)) {
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const noBody = [204, 205, 304].includes(plain.status);
  return new HttpResponse({ status: plain.status, headers, body: noBody ? undefined : plain.body });
}

/** toRpcHttpCookie wraps optional fields as { value }; unwrap and render RFC 6265 attributes. */
function renderCookie(raw: unknown): string {
  const c = raw as Record<string, unknown>;
  const v = (field: unknown): unknown => (field && typeof field === 'object' && 'value' in field ? (field as { value: unknown }).value : field);
  const parts = [`${String(v(c.name))}=${String(v(c.value))}`];
  const domain = v(c.domain);
  const path = v(c.path);
  const expires = v(c.expires);
  const maxAge = v(c.maxAge);
  if (domain) parts.push(`Domain=${String(domain)}`);
  if (path) parts.push(`Path=${String(path)}`);
  const expiresSeconds = (expires as { seconds?: number } | undefined)?.seconds;
  if (expiresSeconds !== undefined) parts.push(`Expires=${new Date(expiresSeconds * 1000).toUTCString()}`);
  if (v(c.secure)) parts.push('Secure');
  if (v(c.httpOnly)) parts.push('HttpOnly');
  if (c.sameSite === 'lax') parts.push('SameSite=Lax');
  if (c.sameSite === 'strict') parts.push('SameSite=Strict');
  if (c.sameSite === 'explicitNone') parts.push('SameSite=None');
  if (maxAge !== undefined && maxAge !== null) parts.push(`Max-Age=${String(maxAge)}`);
  return parts.join('; ');
}
