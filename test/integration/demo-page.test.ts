import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { PNG } from 'pngjs';
import { nodeArgsFor } from '../../harness/util/node-script';
import { DemoReport } from '../../harness/demo/report';
import { COLOURS } from '../../harness/demo/outage-page';
import { describeWithBrowser, openInBrowser } from '../support/browser';

/** How many pixels of the screenshot have exactly this colour. */
function pixelsOf(png: PNG, hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let count = 0;
  for (let i = 0; i < png.data.length; i += 4) if (png.data[i] === r && png.data[i + 1] === g && png.data[i + 2] === b) count++;
  return count;
}

/** The texts a reader sees in a serialized DOM, one per text node, entities decoded. */
function visibleTexts(dom: string): string[] {
  const entities: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&nbsp;': '\u00a0' };
  const body = dom.slice(dom.indexOf('<body'));
  return [...body.matchAll(/>([^<]+)</g)].map((m) => m[1].replace(/&(amp|lt|gt|quot|nbsp);/g, (e) => entities[e]).trim()).filter(Boolean);
}

/** `npm run demo -- --html FILE` run for real, its page opened in a real headless browser. */
describeWithBrowser()('npm run demo -- --html', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfo-demo-page-'));
  const pageFile = join(dir, 'outage.html');
  const screenshotFile = join(dir, 'outage.png');
  let exitCode: number;
  let output = '';
  let report: DemoReport;
  let texts: string[];

  beforeAll(async () => {
    const demo = spawn(process.execPath, [...nodeArgsFor(join(__dirname, '../../harness/demo/main.ts')), '--address-block', '62.1', '--json', '--html', pageFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    demo.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    [exitCode] = (await once(demo, 'exit')) as [number];
    report = JSON.parse(output) as DemoReport;
    texts = visibleTexts(await openInBrowser(pageFile, screenshotFile, { width: 1240, height: 820 }));
  }, 300_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('completes the switchover with no lost commit and writes the page', () => {
    expect(exitCode).toBe(0);
    expect(report).toMatchObject({ outcome: 'completed', lostCommits: 0 });
    expect(readFileSync(pageFile, 'utf8')).toContain(`write outage ${report.writeOutageMs} ms`);
  });

  it('shows, once rendered, the outage the demo measured, both primaries and every runbook step', () => {
    expect(texts).toContain(`write outage ${report.writeOutageMs} ms`);
    expect(texts).toContain(`${report.oldPrimary} (old primary)`);
    expect(texts).toContain(`${report.newPrimary} (new primary)`);
    for (const step of report.steps) {
      expect(texts).toContain(step.name);
      expect(texts).toContain(`${step.durationMs} ms · ${step.result}`);
    }
  });

  it('paints the outage window and the commits of both primaries on the screen', () => {
    const screenshot = PNG.sync.read(readFileSync(screenshotFile));
    expect(pixelsOf(screenshot, COLOURS.outage)).toBeGreaterThan(0);
    expect(pixelsOf(screenshot, COLOURS.oldPrimary)).toBeGreaterThan(0);
    expect(pixelsOf(screenshot, COLOURS.newPrimary)).toBeGreaterThan(0);
  });
});
