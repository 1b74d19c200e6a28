import type { DurableClient, DurableOrchestrationStatus, GetStatusOptions, OrchestrationFilter } from 'durable-functions';
import { z } from 'zod';
import { InvalidInputError } from '../domain/errors';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, OperationPage, summarizeOperation } from '../domain/operation-summary';
import { operationRecord, OperationRecord } from './operations';

export interface HistoryQuery {
  pageSize: number;
  /** Where the page begins: right after this operation in newest-first order; the newest when absent. */
  after: HistoryCursor | null;
}

/** The last entry of a page: its start (to the second, as the store gives it) and its id break ties. */
const HistoryCursor = z.strictObject({ startedAt: z.iso.datetime(), operationId: z.string().min(1) });
type HistoryCursor = z.infer<typeof HistoryCursor>;

const encodeCursor = (cursor: HistoryCursor): string => Buffer.from(JSON.stringify(cursor)).toString('base64url');

function decodeCursor(text: string): HistoryCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const parsed = HistoryCursor.safeParse(value);
  if (!parsed.success) throw new InvalidInputError('cursor is not one this API gave: pass the nextCursor of the previous page unchanged, or leave cursor out to start from the newest operation', { field: 'cursor' });
  return parsed.data;
}

/** The query string of GET …/operations; a bad value is refused naming the parameter and the fix. */
export function parseHistoryQuery(query: URLSearchParams): HistoryQuery {
  const size = query.get('pageSize');
  const pageSize = size === null ? DEFAULT_PAGE_SIZE : /^\d+$/.test(size) ? Number(size) : NaN;
  if (!(pageSize >= 1 && pageSize <= MAX_PAGE_SIZE)) {
    throw new InvalidInputError(`pageSize must be a whole number from 1 to ${MAX_PAGE_SIZE} (got "${size}"): ask for at most ${MAX_PAGE_SIZE} operations per page, e.g. pageSize=${DEFAULT_PAGE_SIZE}`, { field: 'pageSize' });
  }
  const cursor = query.get('cursor');
  return { pageSize, after: cursor === null ? null : decodeCursor(cursor) };
}

/** Newest first; operations started in the same second (the store's precision) by id. */
function newerFirst(a: HistoryCursor, b: HistoryCursor): number {
  if (a.startedAt !== b.startedAt) return a.startedAt > b.startedAt ? -1 : 1;
  return a.operationId > b.operationId ? -1 : a.operationId < b.operationId ? 1 : 0;
}

const positionOf = (record: OperationRecord): HistoryCursor => ({ startedAt: record.startedAt, operationId: record.report.operationId });

/** One instance query of the Durable store: every instance created within [from, to], either end open when absent. */
export type InstanceQuery = (from: Date | undefined, to: Date | undefined) => Promise<DurableOrchestrationStatus[]>;

/**
 * The store answers an instance query in no order that helps (Azure Storage: by instance id, a
 * continuation token at a time, which the SDK follows to the end), so the app sorts what it reads.
 * To read only what a page needs it asks for windows of creation time, newest first and each
 * FIRST_WINDOW_MS × WIDEN^k long, until it holds one entry more than the page (then nothing older
 * can come before them) or a last, unbounded window has read everything older.
 */
const FIRST_WINDOW_MS = 24 * 3600_000;
const WIDEN = 4;
const BOUNDED_WINDOWS = 8;
const STORE_PRECISION_MS = 1000;

export async function pageOfOperations(query: InstanceQuery, cluster: string, { pageSize, after }: HistoryQuery, now: Date): Promise<OperationPage> {
  const found = new Map<string, OperationRecord>();
  // An instance shown at the cursor's second may have been created later within that second.
  const upper = after ? Date.parse(after.startedAt) + STORE_PRECISION_MS : undefined;
  let to = upper === undefined ? undefined : new Date(upper);
  let reachBack = upper ?? now.getTime();
  let span = FIRST_WINDOW_MS;
  for (let window = 0; ; window++) {
    const from = window < BOUNDED_WINDOWS ? new Date(reachBack - span) : undefined;
    for (const status of await query(from, to)) {
      const record = operationRecord(status, cluster);
      if (record && (!after || newerFirst(after, positionOf(record)) < 0)) found.set(record.report.operationId, record);
    }
    if (found.size > pageSize || !from) break;
    to = from;
    reachBack = from.getTime();
    span *= WIDEN;
  }
  const ordered = [...found.values()].sort((a, b) => newerFirst(positionOf(a), positionOf(b)));
  const page = ordered.slice(0, pageSize);
  const last = page.at(-1);
  return {
    operations: page.map((r) => summarizeOperation(r.report, r.trigger, r.startedAt)),
    nextCursor: ordered.length > pageSize && last ? encodeCursor(positionOf(last)) : null,
  };
}

/** A page of the cluster's operations, newest first, read from the durable instance store. */
export function listOperations(client: DurableClient, cluster: string, query: HistoryQuery, now = new Date()): Promise<OperationPage> {
  const instancesCreated: InstanceQuery = (from, to) => {
    // The SDK passes the whole filter on to its query (durable-functions 3.x getStatusInternal),
    // so showInput reaches the extension, though OrchestrationFilter does not declare it: the
    // input is what tells an operation of this cluster from any other instance.
    const filter: OrchestrationFilter & GetStatusOptions = { createdTimeFrom: from, createdTimeTo: to, showInput: true };
    return client.getStatusBy(filter);
  };
  return pageOfOperations(instancesCreated, cluster, query, now);
}
