import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStack } from '../../harness/local/stack';
import { PACKAGE_ZIP } from '../../scripts/package';
import { VM_SCRIPT_NAMES } from '../../src/vm-scripts/catalogue';
import { switchoverUnderLoad } from '../support/operations';
import { startTestStack } from '../support/stack';

/**
 * The zip `npm run package` builds is what Azure runs. Unpacked, it must hold the compiled app and
 * nothing of the development side, and a whole switchover must run from it: a file the app needs
 * at run time (a VM script, host.json, a production dependency) missing from the zip fails here.
 */
describe('deployment package', () => {
  const appRoot = mkdtempSync(join(tmpdir(), 'pgfo-package-'));
  let entries: string[];

  beforeAll(() => {
    if (!existsSync(PACKAGE_ZIP)) throw new Error(`${PACKAGE_ZIP} is missing: run npm run package first (npm run test:package does)`);
    execFileSync('unzip', ['-q', PACKAGE_ZIP, '-d', appRoot]);
    entries = execFileSync('zipinfo', ['-1', PACKAGE_ZIP], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }).split('\n').filter(Boolean);
  });

  it('holds the compiled app, host.json and production dependencies only', () => {
    const topLevel = new Set(entries.map((entry) => entry.split('/')[0]));
    expect([...topLevel].sort()).toEqual(['dist', 'host.json', 'node_modules', 'package-lock.json', 'package.json']);
    const appFiles = entries.filter((entry) => entry.startsWith('dist/'));
    expect(appFiles.filter((entry) => !/^dist\/app\/(src|orchestrations|activities)\//.test(entry) && !entry.endsWith('/') && entry !== 'dist/app/')).toEqual([]);
    expect(appFiles.filter((entry) => /\/(harness|cli|test|bench|lab|local)\//.test(entry))).toEqual([]);
    expect(appFiles.filter((entry) => entry.endsWith('.ts') && !entry.endsWith('.d.ts'))).toEqual([]);

    const manifest = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).not.toHaveProperty('devDependencies');
    expect(manifest).not.toHaveProperty('scripts');
    // The lock file marks what only development needs (jest, typescript, tsx, eslint, node …).
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([path, entry]) => path && entry.dev).map(([path]) => path);
    expect(devOnly.length).toBeGreaterThan(0);
    expect(devOnly.filter((path) => existsSync(join(appRoot, path)))).toEqual([]);
  });

  it('ships every VM script beside the compiled catalogue', () => {
    for (const name of [...VM_SCRIPT_NAMES, 'lib']) {
      expect(entries).toContain(`dist/app/src/vm-scripts/${name}.sh`);
    }
  });

  describe('runs a switchover from the unpacked zip', () => {
    let stack: LocalStack;

    beforeAll(async () => {
      stack = await startTestStack('20.6', { appRoot });
    });

    afterAll(async () => {
      await stack?.stop();
    });

    it('switches over under a write load losing no acknowledged commit', async () => {
      const { report, lost } = await switchoverUnderLoad(stack, { target: 'pg2' });

      expect(report).toMatchObject({ outcome: 'completed', oldPrimary: 'pg1', newPrimary: 'pg2', problems: [] });
      expect(lost).toEqual([]);
      // The app that ran is the one from the zip, not the checkout's sources.
      expect(Object.keys(require.cache).some((path) => path.startsWith(appRoot))).toBe(true);
    });
  });
});
