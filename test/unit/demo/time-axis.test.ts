import { bucketCommits, roundStep, timeAxis } from '../../../harness/demo/time-axis';

describe('the outage picture time axis', () => {
  it('maps the first and last time to the ends of the plot, linearly in between', () => {
    const axis = timeAxis(-500, 2000, 100, 600);
    expect(axis.x(-500)).toBe(100);
    expect(axis.x(2000)).toBe(600);
    expect(axis.x(0)).toBe(200);
    expect(axis.x(750)).toBe(350);
  });

  it('puts ticks on round multiples inside the range, zero among them', () => {
    expect(timeAxis(-500, 2000, 0, 1000).ticks).toEqual([-500, 0, 500, 1000, 1500, 2000]);
    expect(timeAxis(-130, 870, 0, 1000).ticks).toEqual([-100, 0, 100, 200, 300, 400, 500, 600, 700, 800]);
    expect(timeAxis(-2_000, 95_000, 0, 1000).ticks).toEqual([0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000, 90_000]);
  });

  it('picks the smallest round step that keeps the count within the limit', () => {
    expect(roundStep(2500, 300)).toBe(100);
    expect(roundStep(31_000, 300)).toBe(200);
    expect(roundStep(95_000, 300)).toBe(500);
    expect(roundStep(1000, 10)).toBe(100);
    expect(roundStep(1001, 10)).toBe(200);
  });

  it('counts commits per bucket and per server, buckets aligned to multiples of the width also before zero', () => {
    const buckets = bucketCommits(
      [
        { at: -5, server: 'a' },
        { at: 0, server: 'a' },
        { at: 99.9, server: 'b' },
        { at: 100, server: 'b' },
        { at: 350, server: 'b' },
      ],
      100,
    );
    expect(buckets.map((b) => [b.fromMs, b.total, Object.fromEntries(b.byServer)])).toEqual([
      [-100, 1, { a: 1 }],
      [0, 2, { a: 1, b: 1 }],
      [100, 1, { b: 1 }],
      [300, 1, { b: 1 }],
    ]);
  });
});
