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

/** Reads a JSON body; an empty body is `{}`. */
export async function readJsonBody(request: { text(): Promise<string> }): Promise<{ ok: true; body: unknown } | { ok: false; response: HttpResponseInit }> {
  const text = (await request.text()).trim();
  if (!text) return { ok: true, body: {} };
  try {
    return { ok: true, body: JSON.parse(text) };
  } catch (error) {
    return { ok: false, response: problemResponse({ status: 400, title: 'Invalid request body', detail: `the body is not valid JSON (${(error as Error).message}); send a JSON object or nothing` }) };
  }
}
