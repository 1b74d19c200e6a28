/**
 * `npm run build:bicep` must fail on anything the Bicep compiler or linter complains about —
 * errors and warnings alike — so CI never ships a template with a known problem.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBicep, parseDiagnostics, REPO_ROOT } from '../../../scripts/bicep/build';
import { describeWithBicep } from './arm';

describe('parseDiagnostics', () => {
  it('reads the CLI diagnostics format and keeps anything else as unparsed', () => {
    const output = [
      '/repo/bicep/main.bicep(12,7) : Warning no-unused-params: Parameter "x" is declared but never used. [https://aka.ms/bicep/linter-diagnostics#no-unused-params]',
      '/repo/bicep/modules/a b.bicep(3,1) : Error BCP018: Expected the "=" character at this location.',
      '',
      'Unhandled exception. System.Exception: boom',
    ].join('\n');
    expect(parseDiagnostics(output)).toEqual({
      diagnostics: [
        {
          file: '/repo/bicep/main.bicep',
          line: 12,
          column: 7,
          level: 'warning',
          code: 'no-unused-params',
          message: 'Parameter "x" is declared but never used. [https://aka.ms/bicep/linter-diagnostics#no-unused-params]',
        },
        { file: '/repo/bicep/modules/a b.bicep', line: 3, column: 1, level: 'error', code: 'BCP018', message: 'Expected the "=" character at this location.' },
      ],
      unparsed: ['Unhandled exception. System.Exception: boom'],
    });
  });
});

const describeBicep = describeWithBicep();

describeBicep('building Bicep (with the Bicep CLI)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bicep-build-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const writeSource = (name: string, files: Record<string, string>): string => {
    const source = join(dir, name);
    mkdirSync(source, { recursive: true });
    for (const [file, text] of Object.entries(files)) writeFileSync(join(source, file), text);
    return source;
  };

  it('fails on a linter warning alone, with the project rules applied to files outside bicep/', () => {
    const source = writeSource('warning', {
      'warn.bicep': [
        'param unused string',
        "resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {",
        "  name: 'id-test'",
        "  location: 'westeurope'",
        '}',
        'output id string = identity.id',
        '',
      ].join('\n'),
    });
    const result = buildBicep({ sourceDir: source, outDir: join(dir, 'warning-out') });
    expect(result.ok).toBe(false);
    expect(result.diagnostics.filter((d) => d.level === 'error')).toEqual([]);
    // no-unused-params is a default rule; no-hardcoded-location is off unless bicep/bicepconfig.json is used.
    expect(result.diagnostics.map((d) => `${d.level} ${d.code}`).sort()).toEqual(['warning no-hardcoded-location', 'warning no-unused-params']);
    expect(result.failures).toEqual([]);
    expect(Object.keys(result.outputs)).toEqual(['warn.bicep']); // it compiled; the warning alone fails it
  });

  it('fails `npm run build:bicep` (exit 1, the error on stderr) on a broken file', () => {
    const source = writeSource('broken', {
      'good.bicep': "output greeting string = 'hello'\n",
      'broken.bicep': "resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' = {\n  name: 'x'\n  location:\n",
    });
    const run = spawnSync('npm', ['run', '--silent', 'build:bicep', '--', '--src', source, '--out', join(dir, 'broken-out')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/broken\.bicep:\d+:\d+ error BCP\d+/);
    expect(run.stderr).toMatch(/FAILED: [1-9]\d* errors?/);
  });
});
