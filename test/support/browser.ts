import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { run } from '../../harness/util/exec';

/** Debian's browser package; CI installs it (.ci/run). */
const CHROMIUM = 'chromium';

function chromiumVersion(): string | undefined {
  try {
    return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** Chooses describe or describe.skip while the test file loads, saying why when it skips. */
export function describeWithBrowser(): jest.Describe {
  if (chromiumVersion()) return describe;
  if (process.env.BROWSER_TESTS_REQUIRED === '1') throw new Error(`BROWSER_TESTS_REQUIRED=1 but \`${CHROMIUM}\` cannot be run`);
  console.warn(`Skipping the browser tests: \`${CHROMIUM}\` cannot be run (apt-get install chromium). CI always installs it.`);
  return describe.skip;
}

/**
 * Opens a local page in headless Chromium once, as a user's browser would render it: returns the
 * DOM after rendering and leaves a screenshot of the window (width × height px) in `screenshotFile`.
 */
export async function openInBrowser(pageFile: string, screenshotFile: string, window: { width: number; height: number }): Promise<string> {
  // A profile of its own, so parallel runs never share one.
  const profile = mkdtempSync(join(tmpdir(), 'pgfo-chromium-'));
  try {
    return await run(CHROMIUM, [
      '--headless',
      // Root (as in CI) cannot use Chromium's sandbox; the page is our own local file.
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      `--user-data-dir=${profile}`,
      `--window-size=${window.width},${window.height}`,
      `--screenshot=${screenshotFile}`,
      '--dump-dom',
      pathToFileURL(pageFile).href,
    ]);
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}
