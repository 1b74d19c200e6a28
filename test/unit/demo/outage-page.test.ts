import { OutagePicture, renderOutagePage } from '../../../harness/demo/outage-page';
import { DemoReport } from '../../../harness/demo/report';

const REQUESTED_AT = Date.parse('2025-01-01T12:00:00.000Z');
const at = (msAfterRequest: number) => new Date(REQUESTED_AT + msAfterRequest).toISOString();
const HOSTILE_NAME = `<img src=x onerror="alert('x')"> & co`;

/** Commits every 10 ms on pg1 from -500 ms to 90 ms, none until 700 ms, then on pg2 up to 2000 ms. */
function picture(overrides: Partial<DemoReport> = {}): OutagePicture {
  const commits = [];
  for (let t = -500; t <= 90; t += 10) commits.push({ at: t, server: '127.9.9.11' });
  for (let t = 700; t <= 2000; t += 10) commits.push({ at: t, server: '127.9.9.12' });
  const node = (name: string, host: string, role: 'primary' | 'standby') => ({ name, host, port: 5432, role, timeline: 2, lsn: '0/1', lagBytes: 0, streaming: role === 'standby' });
  const report: DemoReport = {
    outcome: 'completed',
    operationId: 'op-1',
    oldPrimary: 'pg1',
    newPrimary: 'pg2',
    rejoinMethod: 'follow',
    writeOutageMs: 610,
    acknowledgedCommits: commits.length,
    lostCommits: 0,
    failedAttempts: 3,
    switchoverDurationMs: 1900,
    latencyProfile: 'zero',
    problems: [],
    steps: [
      { name: 'drain primary', startedAt: at(20), durationMs: 80, result: 'ok' },
      { name: 'stop primary', startedAt: at(100), durationMs: 500, result: 'ok' },
      { name: HOSTILE_NAME, startedAt: at(600), durationMs: 40, result: 'failed' },
    ],
    topology: {
      nodes: [node('pg1', '127.9.9.11', 'standby'), node('pg2', '127.9.9.12', 'primary'), node('pg3', '127.9.9.13', 'standby')],
      ilb: { write: { host: '127.9.9.1', port: 5432 }, read: { host: '127.9.9.2', port: 5432 }, writePool: ['pg2'], readPool: ['pg1', 'pg3'] },
      connection: { user: 'app', password: 'secret', database: 'app' },
    },
    ...overrides,
  };
  return { report, requestedAt: REQUESTED_AT, commits, outage: { from: 90, to: 700 } };
}

/** The attributes of every SVG element `tag` carrying `className`, as numbers where they are numbers. */
function elements(page: string, tag: string, className: string): Record<string, string>[] {
  return [...page.matchAll(new RegExp(`<${tag} class="${className}"([^>]*)>`, 'g'))].map((m) => Object.fromEntries([...m[1].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]])));
}

/** The plot spans 230..1040 px; the axis runs in whole 100 ms buckets from -500 ms to 2100 ms, 2600 ms in all. */
const xOf = (ms: number) => 230 + ((ms + 500) / 2600) * 810;

describe('the outage picture page', () => {
  it('is one self-contained page: no script, nothing fetched from elsewhere', () => {
    const page = renderOutagePage(picture());
    expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(page).not.toMatch(/<script|<link|src="http|href="http|url\(/i);
  });

  it('escapes every name it shows, in text and in titles', () => {
    const page = renderOutagePage(picture({ reason: '<b>late</b>', problems: ['pg3 "stuck" <again>'] }));
    expect(page).not.toContain('<img');
    expect(page).not.toContain('<b>late</b>');
    expect(page).toContain('&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt; &amp; co</text>');
    expect(page).toContain('reason: &lt;b&gt;late&lt;/b&gt;');
    expect(page).toContain('problem: pg3 &quot;stuck&quot; &lt;again&gt;');
  });

  it('shades the outage window where the data puts it and labels it with the reported length', () => {
    const page = renderOutagePage(picture());
    const [outage] = elements(page, 'rect', 'outage');
    expect(Number(outage.x)).toBeCloseTo(xOf(90), 0);
    expect(Number(outage.x) + Number(outage.width)).toBeCloseTo(xOf(700), 0);
    expect(page).toContain('write outage 610 ms</text>');
  });

  it('draws no commit bar inside the outage window, and bars on both sides of it', () => {
    const bars = elements(renderOutagePage(picture()), 'rect', 'commits').map((b) => ({ from: Number(b.x), to: Number(b.x) + Number(b.width), fill: b.fill }));
    expect(bars.filter((b) => b.from >= xOf(90) && b.to <= xOf(700))).toEqual([]);
    expect(bars.some((b) => b.to <= xOf(100))).toBe(true);
    expect(bars.some((b) => b.from >= xOf(700))).toBe(true);
    expect(new Set(bars.filter((b) => b.to <= xOf(100)).map((b) => b.fill)).size).toBe(1);
    expect(bars.find((b) => b.to <= xOf(100))!.fill).not.toBe(bars.find((b) => b.from >= xOf(700))!.fill);
  });

  it('names the old and the new primary by the servers that took the commits', () => {
    const page = renderOutagePage(picture());
    expect(page).toContain('pg1 (old primary)</text>');
    expect(page).toContain('pg2 (new primary)</text>');
    expect(page).not.toContain('127.9.9.1');
    expect(page).toContain('<title>Switchover pg1 → pg2: completed</title>');
  });

  it('draws each step as a bar from its start for its duration, with its name, duration and result', () => {
    const page = renderOutagePage(picture());
    const stop = /<g class="step"><title>stop primary: 500 ms, ok<\/title>.*?<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"/.exec(page);
    expect(Number(stop![1])).toBeCloseTo(xOf(100), 0);
    expect(Number(stop![2])).toBeCloseTo(xOf(600) - xOf(100), 0);
    expect(page).toContain('>500 ms · ok</text>');
    expect(page).toContain('>40 ms · failed</text>');
  });

  it('marks a step that never finished', () => {
    const unfinished = picture();
    unfinished.report.steps.push({ name: 'rejoin pg1', startedAt: at(900), durationMs: null, result: 'running' });
    expect(renderOutagePage(unfinished)).toContain('>unfinished · running</text>');
  });

  it('shows lost commits, in red when there are any', () => {
    expect(renderOutagePage(picture())).toContain('lost commits: <b>0</b>');
    expect(renderOutagePage(picture({ lostCommits: 2 }))).toContain('lost commits: <b class="bad">2</b>');
  });
});
