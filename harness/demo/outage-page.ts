import { DemoReport } from './report';
import { bucketCommits, roundStep, timeAxis, TimeAxis } from './time-axis';

/**
 * What the outage picture shows. Times are ms after the switchover request: the client's commits
 * on its monotonic clock, the app's steps from their wall-clock start (the same machine's clock).
 */
export interface OutagePicture {
  report: DemoReport;
  /** Wall-clock time (epoch ms) of the switchover request: the axis' zero. */
  requestedAt: number;
  commits: { at: number; server: string }[];
  /** The gap whose rounded length is `report.writeOutageMs`, or null with fewer than two commits. */
  outage: { from: number; to: number } | null;
}

const WIDTH = 1200;
const PLOT = { left: 230, right: 1040 };
const COMMITS = { top: 40, height: 200 };
const STEPS_TOP = COMMITS.top + COMMITS.height + 50;
const STEP_ROW = 22;
/** Exported so a test can find them on a screenshot. */
export const COLOURS = { outage: '#fde2e1', oldPrimary: '#4a78c2', newPrimary: '#e08a2c', otherNode: '#9a9a9a' };
const RESULT_COLOURS: Record<DemoReport['steps'][number]['result'], string> = { ok: '#3a9d5d', failed: '#d43c3c', skipped: '#9a9a9a', running: '#e0a030' };

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
const px = (n: number) => String(Math.round(n * 10) / 10);
const seconds = (ms: number, stepMs: number) => `${(ms / 1000).toFixed(stepMs < 1000 ? 1 : 0)} s`;

/** The steps on the picture's clock: ms after the request; a step that never finished has no end. */
function stepsOnAxis(picture: OutagePicture) {
  return picture.report.steps.map((step) => {
    const from = Date.parse(step.startedAt) - picture.requestedAt;
    return { ...step, from, to: step.durationMs === null ? null : from + step.durationMs };
  });
}

/** The one self-contained HTML page (inline SVG and CSS, no script): commits over time, the outage window, the runbook steps. */
export function renderOutagePage(picture: OutagePicture): string {
  const { report } = picture;
  const steps = stepsOnAxis(picture);
  const times = [0, ...picture.commits.map((c) => c.at), ...steps.flatMap((s) => (s.to === null ? [s.from] : [s.from, s.to]))];
  const bucketMs = roundStep(Math.max(...times) - Math.min(...times), 300);
  // Whole buckets, so the first and last bars stay inside the plot.
  const axis = timeAxis(Math.floor(Math.min(...times) / bucketMs) * bucketMs, (Math.floor(Math.max(...times) / bucketMs) + 1) * bucketMs, PLOT.left, PLOT.right);
  const height = STEPS_TOP + steps.length * STEP_ROW + 50;
  const title = `Switchover ${report.oldPrimary ?? '?'} → ${report.newPrimary ?? '?'}: ${report.outcome}`;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${escapeHtml(`write outage ${report.writeOutageMs} ms`)}">`,
    outageWindow(picture, axis, height),
    timeGrid(axis, height),
    commitBars(picture, axis, bucketMs),
    stepBars(steps, axis),
    '</svg>',
  ].join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font: 14px system-ui, sans-serif; color: #222; margin: 20px; background: #fff; }
h1 { font-size: 20px; margin: 0 0 6px; }
.summary span { margin-right: 18px; white-space: nowrap; }
.summary b.bad { color: #d43c3c; }
svg text { font: 12px system-ui, sans-serif; fill: #333; }
svg .outage-label { font-weight: bold; fill: #b02a2a; }
svg .muted { fill: #777; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="summary">${summary(report)}</p>
${report.problems.map((p) => `<p class="problem">problem: ${escapeHtml(p)}</p>`).join('\n')}
${svg}
<p class="muted">Bars: commits the client got acknowledged per ${bucketMs} ms, coloured by the server that took them. Shaded: the write outage, the longest gap between two acknowledged commits. Below: each runbook step on the same clock (0 s = the switchover request).</p>
</body>
</html>
`;
}

function summary(report: DemoReport): string {
  const items = [
    ['write outage', `${report.writeOutageMs} ms`, false],
    ['lost commits', String(report.lostCommits), report.lostCommits > 0],
    ['acknowledged commits', String(report.acknowledgedCommits), false],
    ['failed attempts', String(report.failedAttempts), false],
    ['switchover duration', `${report.switchoverDurationMs} ms`, false],
    ['rejoin', report.rejoinMethod ?? '-', false],
    ['Azure latency', report.latencyProfile, false],
  ] as const;
  const reason = report.reason ? `<span>reason: ${escapeHtml(report.reason)}</span>` : '';
  return reason + items.map(([name, value, bad]) => `<span>${escapeHtml(name)}: <b${bad ? ' class="bad"' : ''}>${escapeHtml(value)}</b></span>`).join('');
}

function outageWindow(picture: OutagePicture, axis: TimeAxis, height: number): string {
  if (!picture.outage) return '';
  const from = axis.x(picture.outage.from);
  const to = axis.x(picture.outage.to);
  const labelX = Math.min(Math.max((from + to) / 2, PLOT.left + 70), PLOT.right - 70);
  return [
    `<rect class="outage" x="${px(from)}" y="${COMMITS.top}" width="${px(Math.max(to - from, 1))}" height="${height - 30 - COMMITS.top}" fill="${COLOURS.outage}"/>`,
    `<text class="outage-label" x="${px(labelX)}" y="${COMMITS.top - 8}" text-anchor="middle">write outage ${picture.report.writeOutageMs} ms</text>`,
  ].join('\n');
}

function timeGrid(axis: TimeAxis, height: number): string {
  const step = axis.ticks.length > 1 ? axis.ticks[1] - axis.ticks[0] : 1000;
  const bottom = height - 30;
  return [
    ...axis.ticks.map((t) => `<line x1="${px(axis.x(t))}" x2="${px(axis.x(t))}" y1="${COMMITS.top}" y2="${bottom}" stroke="${t === 0 ? '#555' : '#e4e4e4'}"${t === 0 ? ' stroke-dasharray="4 3"' : ''}/>`),
    ...axis.ticks.map((t) => `<text x="${px(axis.x(t))}" y="${bottom + 16}" text-anchor="middle">${seconds(t, step)}</text>`),
    `<text class="muted" x="${PLOT.left - 10}" y="${bottom + 16}" text-anchor="end">time after the request</text>`,
  ].join('\n');
}

function commitBars(picture: OutagePicture, axis: TimeAxis, widthMs: number): string {
  const buckets = bucketCommits(picture.commits, widthMs);
  const peak = Math.max(1, ...buckets.map((b) => b.total));
  const bottom = COMMITS.top + COMMITS.height;
  const y = (count: number) => bottom - (count / peak) * COMMITS.height;
  const nodes = serverNames(picture);
  const colour = colours(picture.report);
  const bars = buckets.flatMap((bucket) => {
    let stacked = 0;
    return [...bucket.byServer].map(([server, count]) => {
      const node = nodes.get(server) ?? server;
      const top = y(stacked + count);
      const base = y(stacked);
      stacked += count;
      const x = axis.x(bucket.fromMs);
      return `<rect class="commits" x="${px(x)}" y="${px(top)}" width="${px(axis.x(bucket.fromMs + widthMs) - x)}" height="${px(base - top)}" fill="${colour(node)}"><title>${escapeHtml(`${count} commits on ${node}`)}</title></rect>`;
    });
  });
  const legend = [...new Set(picture.commits.map((c) => nodes.get(c.server) ?? c.server))].map(
    (node, i) => `<rect x="${PLOT.right + 15}" y="${COMMITS.top + 20 * i}" width="12" height="12" fill="${colour(node)}"/><text x="${PLOT.right + 32}" y="${COMMITS.top + 20 * i + 11}">${escapeHtml(roleOf(picture.report, node))}</text>`,
  );
  return [
    `<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${bottom}" y2="${bottom}" stroke="#555"/>`,
    `<text x="${PLOT.left - 10}" y="${COMMITS.top + 10}" text-anchor="end">${peak}</text>`,
    `<text x="${PLOT.left - 10}" y="${bottom}" text-anchor="end">0</text>`,
    `<text x="${PLOT.left - 10}" y="${COMMITS.top + COMMITS.height / 2}" text-anchor="end">acknowledged commits</text>`,
    `<text class="muted" x="${PLOT.left - 10}" y="${COMMITS.top + COMMITS.height / 2 + 16}" text-anchor="end">per ${widthMs} ms</text>`,
    ...bars,
    ...legend,
  ].join('\n');
}

function stepBars(steps: ReturnType<typeof stepsOnAxis>, axis: TimeAxis): string {
  return steps
    .map((step, i) => {
      const top = STEPS_TOP + i * STEP_ROW;
      const x = axis.x(step.from);
      const width = step.to === null ? 2 : Math.max(axis.x(step.to) - x, 2);
      const duration = step.durationMs === null ? 'unfinished' : `${step.durationMs} ms`;
      return [
        `<g class="step">`,
        `<title>${escapeHtml(`${step.name}: ${duration}, ${step.result}`)}</title>`,
        `<text x="${PLOT.left - 10}" y="${top + 14}" text-anchor="end">${escapeHtml(step.name)}</text>`,
        `<rect x="${px(x)}" y="${top + 3}" width="${px(width)}" height="${STEP_ROW - 6}" fill="${RESULT_COLOURS[step.result]}"/>`,
        `<text x="${PLOT.right + 15}" y="${top + 14}">${escapeHtml(`${duration} · ${step.result}`)}</text>`,
        `</g>`,
      ].join('');
    })
    .join('\n');
}

/** The lab's node names by the address the write load saw (`inet_server_addr()`). */
function serverNames(picture: OutagePicture): Map<string, string> {
  return new Map(picture.report.topology.nodes.map((n) => [n.host, n.name]));
}

function roleOf(report: DemoReport, node: string): string {
  if (node === report.oldPrimary) return `${node} (old primary)`;
  if (node === report.newPrimary) return `${node} (new primary)`;
  return node;
}

function colours(report: DemoReport): (node: string) => string {
  return (node) => (node === report.oldPrimary ? COLOURS.oldPrimary : node === report.newPrimary ? COLOURS.newPrimary : COLOURS.otherNode);
}
