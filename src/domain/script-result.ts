/**
 * The one machine-readable line every VM script prints last.
 *
 * Azure's action Run Command reports no exit code (a failing script still "succeeded") and keeps
 * only the tail of the output, so each script ends by printing exactly one line
 *
 *     PGFO_RESULT {"ok":true,...}
 *
 * as the LAST line of stdout. Being last, it survives the output being cut to its tail. The
 * JSON object must carry `ok` (boolean); everything else is the script's own result data.
 * Shell scripts print it with: printf 'PGFO_RESULT %s\n' "$json".
 */
export const RESULT_MARKER = 'PGFO_RESULT';

export interface ScriptResultData {
  ok: boolean;
  [key: string]: unknown;
}

export type ParsedScriptResult =
  | { kind: 'result'; result: ScriptResultData }
  | { kind: 'missing' }
  | { kind: 'malformed'; reason: string };

/** The line a script prints; used by tests and by TypeScript-side fakes of scripts. */
export function formatScriptResult(result: ScriptResultData): string {
  return `${RESULT_MARKER} ${JSON.stringify(result)}`;
}

/**
 * Finds the last result line in a script's stdout. Only the last one counts: a script that
 * printed an early result and then failed must not be read as successful, and a marker that is
 * not the last non-empty line means the script kept running (and maybe failing) after it.
 */
export function parseScriptResult(stdout: string): ParsedScriptResult {
  const lines = stdout.split('\n').map((line) => line.replace(/\r$/, ''));
  let last = lines.length - 1;
  while (last >= 0 && lines[last].trim() === '') last--;
  if (last < 0) return { kind: 'missing' };
  const markerIndex = findLastMarkerLine(lines, last);
  if (markerIndex < 0) return { kind: 'missing' };
  if (markerIndex !== last) {
    return { kind: 'malformed', reason: `the ${RESULT_MARKER} line is not the last line of stdout: the script printed more after its result` };
  }
  const payload = lines[markerIndex].slice(RESULT_MARKER.length).trim();
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch (error) {
    return { kind: 'malformed', reason: `the ${RESULT_MARKER} line does not hold valid JSON (${(error as Error).message})` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { kind: 'malformed', reason: `the ${RESULT_MARKER} line must hold a JSON object` };
  }
  const ok = (parsed as Record<string, unknown>).ok;
  if (typeof ok !== 'boolean') {
    return { kind: 'malformed', reason: `the ${RESULT_MARKER} object needs a boolean "ok" field` };
  }
  return { kind: 'result', result: parsed as ScriptResultData };
}

function findLastMarkerLine(lines: string[], from: number): number {
  for (let i = from; i >= 0; i--) {
    const line = lines[i];
    if (line === RESULT_MARKER || line.startsWith(`${RESULT_MARKER} `)) return i;
  }
  return -1;
}
