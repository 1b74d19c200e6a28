/** Round steps for ticks and commit buckets, in ms: the picture spans from about a second (zero latency) to minutes (realistic). */
const ROUND_STEPS_MS = [100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 30_000, 60_000, 120_000, 300_000];

/** The smallest round step that cuts `spanMs` into at most `count` pieces. */
export function roundStep(spanMs: number, count: number): number {
  return ROUND_STEPS_MS.find((step) => spanMs / step <= count) ?? ROUND_STEPS_MS[ROUND_STEPS_MS.length - 1];
}

export interface TimeAxis {
  fromMs: number;
  toMs: number;
  /** The horizontal pixel position of a time. */
  x(ms: number): number;
  ticks: number[];
}

/** A linear time axis from `fromMs` to `toMs` drawn between pixels `left` and `right`, with round ticks. */
export function timeAxis(fromMs: number, toMs: number, left: number, right: number): TimeAxis {
  const span = Math.max(toMs - fromMs, 1);
  const tickStep = roundStep(span, 10);
  const ticks: number[] = [];
  // `+ 0` turns the -0 that Math.ceil gives for a start just before zero into 0.
  for (let tick = Math.ceil(fromMs / tickStep) * tickStep + 0; tick <= toMs; tick += tickStep) ticks.push(tick);
  return { fromMs, toMs, x: (ms) => left + ((ms - fromMs) / span) * (right - left), ticks };
}

export interface CommitBucket {
  fromMs: number;
  /** Acknowledged commits in the bucket, by the server that took them. */
  byServer: Map<string, number>;
  total: number;
}

/** Commits counted per `widthMs` bucket, buckets aligned to multiples of the width; empty buckets are left out. */
export function bucketCommits(commits: { at: number; server: string }[], widthMs: number): CommitBucket[] {
  const buckets = new Map<number, CommitBucket>();
  for (const commit of commits) {
    const fromMs = Math.floor(commit.at / widthMs) * widthMs;
    const bucket = buckets.get(fromMs) ?? { fromMs, byServer: new Map<string, number>(), total: 0 };
    bucket.byServer.set(commit.server, (bucket.byServer.get(commit.server) ?? 0) + 1);
    bucket.total++;
    buckets.set(fromMs, bucket);
  }
  return [...buckets.values()].sort((a, b) => a.fromMs - b.fromMs);
}
