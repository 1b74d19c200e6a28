/**
 * The statistics the benchmark reports (docs/outage.md): median and max over repeated runs, and the
 * ratio of our figure to the peer's measured in the same run. Pure; null where there is no number.
 */

export interface Summary {
  n: number;
  median: number | null;
  max: number | null;
}

/** The middle value; for an even count the mean of the two middle ones. */
export function median(values: readonly number[]): number | null {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return null;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function max(values: readonly number[]): number | null {
  const finite = values.filter(Number.isFinite);
  return finite.length === 0 ? null : Math.max(...finite);
}

export function summarize(values: readonly (number | null | undefined)[]): Summary {
  const numbers = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return { n: numbers.length, median: median(numbers), max: max(numbers) };
}

/** ours / peer; null when either is missing or the peer's figure is not positive (no meaningful ratio). */
export function ratio(ours: number | null | undefined, peer: number | null | undefined): number | null {
  if (ours === null || ours === undefined || peer === null || peer === undefined) return null;
  if (!Number.isFinite(ours) || !Number.isFinite(peer) || peer <= 0) return null;
  return ours / peer;
}

export function formatRatio(value: number | null): string {
  if (value === null) return 'n/a';
  return `${value < 0.1 ? value.toFixed(3) : value.toFixed(2)}×`;
}

export function formatMs(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}
