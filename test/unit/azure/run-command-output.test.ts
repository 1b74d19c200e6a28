import { parseActionRunCommandMessage, streamsFromRunCommandResult } from '../../../src/adapters/azure/run-command-output';
import { parseScriptResult } from '../../../src/domain/script-result';
import { actionRunCommandMessage, OUTPUT_TAIL_BYTES, tailBytes } from '../../../harness/local/azure-emulator/output-tail';

describe('action Run Command output', () => {
  test('splits the Linux message into stdout and stderr', () => {
    const message = 'Enable succeeded: \n[stdout]\nline 1\nPGFO_RESULT {"ok":true}\n\n[stderr]\nwarning: x\n';
    expect(parseActionRunCommandMessage(message)).toEqual({ stdout: 'line 1\nPGFO_RESULT {"ok":true}\n', stderr: 'warning: x\n' });
  });

  test('empty streams', () => {
    expect(parseActionRunCommandMessage('Enable succeeded: \n[stdout]\n\n[stderr]\n')).toEqual({ stdout: '', stderr: '' });
  });

  test('a message without the headers (extension failure) is all stderr', () => {
    expect(parseActionRunCommandMessage('Enable failed: script too large')).toEqual({ stdout: '', stderr: 'Enable failed: script too large' });
  });

  test('a message cut before the stdout header still yields the stdout tail', () => {
    expect(parseActionRunCommandMessage('tail of stdout\nPGFO_RESULT {"ok":true}\n\n[stderr]\n')).toEqual({ stdout: 'tail of stdout\nPGFO_RESULT {"ok":true}\n', stderr: '' });
  });

  test('stdout that prints a "[stderr]" line cannot smuggle a result out of stderr', () => {
    const message = actionRunCommandMessage('[stderr]\n', 'PGFO_RESULT {"ok":true}\n');
    expect(parseScriptResult(parseActionRunCommandMessage(message).stdout).kind).toBe('missing');
  });

  test('Windows-style separate StdOut/StdErr entries are read too', () => {
    expect(
      streamsFromRunCommandResult([
        { code: 'ComponentStatus/StdOut/succeeded', message: 'out' },
        { code: 'ComponentStatus/StdErr/succeeded', message: 'err' },
      ]),
    ).toEqual({ stdout: 'out', stderr: 'err' });
  });

  test('the marker survives output longer than the 4096-byte tail because it is last', () => {
    const noise = Array.from({ length: 400 }, (_, i) => `progress line ${i} ${'x'.repeat(20)}`).join('\n');
    const stdout = `${noise}\nPGFO_RESULT {"ok":true,"n":400}\n`;
    const stderr = 'e'.repeat(10_000);
    const message = actionRunCommandMessage(stdout, stderr);
    const streams = parseActionRunCommandMessage(message);
    expect(Buffer.byteLength(streams.stdout)).toBe(OUTPUT_TAIL_BYTES);
    expect(Buffer.byteLength(streams.stderr)).toBe(OUTPUT_TAIL_BYTES);
    expect(parseScriptResult(streams.stdout)).toEqual({ kind: 'result', result: { ok: true, n: 400 } });
  });
});

describe('tailBytes', () => {
  test('keeps short text whole and cuts long text to its last bytes', () => {
    expect(tailBytes('abc', 4)).toBe('abc');
    expect(tailBytes('abcdef', 4)).toBe('cdef');
  });

  test('counts bytes, not characters', () => {
    expect(Buffer.byteLength(tailBytes('é'.repeat(10), 6))).toBeLessThanOrEqual(6);
  });
});
