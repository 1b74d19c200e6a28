import { formatScriptResult, parseScriptResult, RESULT_MARKER } from '../../../src/domain/script-result';

describe('the PGFO_RESULT line', () => {
  test('is read from the last line of stdout', () => {
    const stdout = `checkpoint done\n${formatScriptResult({ ok: true, lsn: '0/3000060' })}\n`;
    expect(parseScriptResult(stdout)).toEqual({ kind: 'result', result: { ok: true, lsn: '0/3000060' } });
  });

  test('tolerates trailing blank lines and CRLF', () => {
    expect(parseScriptResult(`x\r\n${RESULT_MARKER} {"ok":false,"error":"no"}\r\n\r\n`)).toEqual({ kind: 'result', result: { ok: false, error: 'no' } });
  });

  test('only the last marker counts', () => {
    const stdout = `${RESULT_MARKER} {"ok":false}\nretrying\n${RESULT_MARKER} {"ok":true}\n`;
    expect(parseScriptResult(stdout)).toEqual({ kind: 'result', result: { ok: true } });
  });

  test('is missing when the script died before printing it', () => {
    expect(parseScriptResult('starting\npg_ctl: could not start server\n')).toEqual({ kind: 'missing' });
    expect(parseScriptResult('')).toEqual({ kind: 'missing' });
  });

  test('must be the last line: output after it means the script went on', () => {
    const parsed = parseScriptResult(`${RESULT_MARKER} {"ok":true}\nsomething failed afterwards\n`);
    expect(parsed.kind).toBe('malformed');
  });

  test.each([
    [`${RESULT_MARKER} not json`, /valid JSON/],
    [`${RESULT_MARKER} [1,2]`, /JSON object/],
    [`${RESULT_MARKER} {"status":"fine"}`, /boolean "ok"/],
    [`${RESULT_MARKER} {"ok":"yes"}`, /boolean "ok"/],
    [RESULT_MARKER, /valid JSON/],
  ])('%s is malformed', (line, reason) => {
    const parsed = parseScriptResult(`${line}\n`);
    expect(parsed.kind).toBe('malformed');
    expect(parsed.kind === 'malformed' && parsed.reason).toMatch(reason);
  });

  test('a line merely starting with the marker text is not a marker', () => {
    expect(parseScriptResult(`${RESULT_MARKER}X {"ok":true}\n`)).toEqual({ kind: 'missing' });
  });
});
