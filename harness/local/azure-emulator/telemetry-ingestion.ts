import { gunzipSync } from 'node:zlib';
import type { EmulatorCore } from './core';
import { AzureHttpError, type RequestContext } from './http-kit';

/** Application Insights ingestion (Breeze): the path the Azure Monitor exporter posts envelopes to. */
export const TRACK_PATH = /^\/v2(\.1)?\/track$/i;

/** One telemetry item as Application Insights stores it: customEvents, customMetrics, traces, ... */
export interface TelemetryEnvelope {
  name: string;
  time: string;
  iKey: string;
  tags?: Record<string, string>;
  data: { baseType: string; baseData: Record<string, unknown> };
}

type ItemError = { index: number; statusCode: number; message: string };

/**
 * POST /v2.1/track as the ingestion endpoint answers it: a JSON array of envelopes, gzip or not;
 * a bearer token required (the deployment disables local auth: Entra ID only); each item checked
 * (the component's instrumentation key, a name, a time, a baseType), the good ones kept, the bad
 * ones listed by index with 206. Kept envelopes go to `record.telemetry`: what the workspace would
 * hold, for tests to query.
 */
export async function handleTrack(core: EmulatorCore, ctx: RequestContext): Promise<void> {
  if (ctx.method !== 'POST') {
    ctx.req.resume();
    throw new AzureHttpError(405, 'MethodNotAllowed', 'The ingestion endpoint takes POST only.');
  }
  if (!/^Bearer\s+\S+/i.test(ctx.header('authorization') ?? '')) {
    ctx.req.resume();
    ctx.send(401, { itemsReceived: 0, itemsAccepted: 0, errors: [{ index: 0, statusCode: 401, message: 'Authorization (Entra ID bearer token) is required: local authentication is disabled on this component' }] });
    return;
  }
  const items = parseItems(await ctx.body(), ctx.header('content-encoding'));
  const errors: ItemError[] = [];
  items.forEach((item, index) => {
    const problem = envelopeProblem(item, core.instrumentationKey);
    if (problem) errors.push({ index, statusCode: 400, message: problem });
    else core.record.telemetry.push(item as TelemetryEnvelope);
  });
  ctx.send(errors.length ? 206 : 200, { itemsReceived: items.length, itemsAccepted: items.length - errors.length, errors });
}

function parseItems(body: Buffer, encoding: string | undefined): unknown[] {
  let text: string;
  try {
    text = (encoding?.toLowerCase() === 'gzip' ? gunzipSync(body) : body).toString('utf8');
  } catch (error) {
    throw new AzureHttpError(400, 'InvalidRequestContent', `The body is not valid gzip: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new AzureHttpError(400, 'InvalidRequestContent', `The body is not JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new AzureHttpError(400, 'InvalidRequestFormat', 'The body must be a JSON array of telemetry items.');
  return parsed;
}

function envelopeProblem(item: unknown, instrumentationKey: string): string | null {
  const envelope = item as Partial<TelemetryEnvelope> | null;
  if (typeof envelope !== 'object' || envelope === null) return 'an item must be a JSON object';
  if (envelope.iKey !== instrumentationKey) return `iKey ${String(envelope.iKey)} is not this component's instrumentation key`;
  if (typeof envelope.name !== 'string' || !envelope.name) return 'name is required';
  if (typeof envelope.time !== 'string' || Number.isNaN(Date.parse(envelope.time))) return 'time must be an ISO 8601 time';
  if (typeof envelope.data?.baseType !== 'string' || typeof envelope.data.baseData !== 'object') return 'data.baseType and data.baseData are required';
  return null;
}
