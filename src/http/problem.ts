import type { HttpResponseInit } from '@azure/functions';
import { z } from 'zod';

/** RFC 9457 problem details: every refusal names what was wrong and how to fix it. */
export interface Problem {
  status: number;
  title: string;
  detail: string;
  errors?: { field: string; message: string }[];
  [extension: string]: unknown;
}

export function problemResponse(problem: Problem): HttpResponseInit {
  return { status: problem.status, headers: { 'content-type': 'application/problem+json' }, jsonBody: { type: 'about:blank', ...problem } };
}

export const json = (status: number, body: unknown): HttpResponseInit => ({ status, jsonBody: body });

const fieldOf = (path: readonly PropertyKey[]) => (path.length ? path.map(String).join('.') : '(body)');

/** 400 for a body that does not match its schema, one entry per bad field. */
export function invalidBody(error: z.ZodError, hint: string): HttpResponseInit {
  const errors = error.issues.map((issue) => ({
    field: fieldOf(issue.path),
    message: issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}; allowed fields: ${hint}` : issue.message.replace(/^Invalid input: /, ''),
  }));
  return problemResponse({ status: 400, title: 'Invalid request body', detail: errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors });
}

/** Every body this API takes is a small JSON object (a Scheduled Events event is the largest). */
export const MAX_BODY_BYTES = 64 * 1024;

/** Reads a JSON body; an empty body is `{}`; one over MAX_BODY_BYTES is refused (413) unparsed. */
export async function readJsonBody(request: { text(): Promise<string> }): Promise<{ ok: true; body: unknown } | { ok: false; response: HttpResponseInit }> {
  const raw = await request.text();
  const bytes = Buffer.byteLength(raw);
  if (bytes > MAX_BODY_BYTES) {
    return { ok: false, response: problemResponse({ status: 413, title: 'Request body too large', detail: `the body is ${bytes} bytes, more than the ${MAX_BODY_BYTES} this API accepts: send only the fields the route documents` }) };
  }
  const text = raw.trim();
  if (!text) return { ok: true, body: {} };
  try {
    return { ok: true, body: JSON.parse(text) };
  } catch (error) {
    return { ok: false, response: problemResponse({ status: 400, title: 'Invalid request body', detail: `the body is not valid JSON (${(error as Error).message}); send a JSON object or nothing` }) };
  }
}
