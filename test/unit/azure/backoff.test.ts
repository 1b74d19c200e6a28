import { type Clock, withBackoff } from '../../../src/adapters/azure/backoff';

function fakeClock(): Clock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

describe('withBackoff', () => {
  test('retries retryable errors with growing, bounded delays', async () => {
    const clock = fakeClock();
    let calls = 0;
    const result = await withBackoff(
      async () => {
        calls++;
        if (calls < 6) throw new Error('busy');
        return 'done';
      },
      () => true,
      { baseDelayMs: 100, maxDelayMs: 400, budgetMs: 10_000 },
      clock,
    );
    expect(result).toBe('done');
    expect(clock.slept).toHaveLength(5);
    clock.slept.forEach((ms, i) => {
      const ceiling = Math.min(400, 100 * 2 ** i);
      expect(ms).toBeGreaterThanOrEqual(ceiling / 2);
      expect(ms).toBeLessThanOrEqual(ceiling);
    });
  });

  test('does not retry other errors', async () => {
    const clock = fakeClock();
    await expect(withBackoff(async () => Promise.reject(new Error('fatal')), () => false, { baseDelayMs: 1, maxDelayMs: 1, budgetMs: 100 }, clock)).rejects.toThrow('fatal');
    expect(clock.slept).toHaveLength(0);
  });

  test('gives up with the last error when the budget is spent', async () => {
    const clock = fakeClock();
    let calls = 0;
    await expect(
      withBackoff(
        async () => {
          calls++;
          throw new Error(`busy ${calls}`);
        },
        () => true,
        { baseDelayMs: 100, maxDelayMs: 100, budgetMs: 350 },
        clock,
      ),
    ).rejects.toThrow(/busy/);
    expect(clock.now()).toBeLessThanOrEqual(350);
  });
});
