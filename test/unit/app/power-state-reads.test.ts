import { beginPowerStateLook } from '../../../src/app/power-state-reads';
import type { PowerState } from '../../../src/ports/fencing';

describe("the health check's power-state reads", () => {
  /** A reader that records which nodes it was asked about, answering from `states` (a missing node never answers). */
  const reader = (states: Record<string, PowerState | Error>) => {
    const asked: string[] = [];
    const read = (node: string): Promise<PowerState> => {
      asked.push(node);
      const state = states[node];
      if (state === undefined) return new Promise<PowerState>(() => undefined);
      return state instanceof Error ? Promise.reject(state) : Promise.resolve(state);
    };
    return { asked, read };
  };

  it("reads a node the look found unreachable after the look, and one the last look found unreachable as the look begins", async () => {
    const first = reader({ pg2: 'stopped' });
    expect(await beginPowerStateLook('reads-early', 50, first.read).of(['pg2'])).toEqual({ pg2: 'stopped' });

    const second = reader({ pg2: 'deallocated', pg3: 'running' });
    const look = beginPowerStateLook('reads-early', 50, second.read);
    await Promise.resolve();
    // Before the look's probes have ended, pg2 (unreachable last time) is already being read.
    expect(second.asked).toEqual(['pg2']);
    expect(await look.of(['pg2', 'pg3'])).toEqual({ pg2: 'deallocated', pg3: 'running' });
    expect(second.asked).toEqual(['pg2', 'pg3']);
  });

  it("answers 'unknown' for a read that fails or does not end within the look's bound, without waiting for it", async () => {
    const { read } = reader({ pg1: new Error('503 Service Unavailable'), pg2: 'stopped' });
    expect(await beginPowerStateLook('reads-bounded', 30, read).of(['pg1', 'pg2', 'pg3'])).toEqual({ pg1: 'unknown', pg2: 'stopped', pg3: 'unknown' });
  });

  it("counts the bound from the look's start: a node whose probe took all of it reads 'unknown' at once", async () => {
    jest.useFakeTimers();
    try {
      const look = beginPowerStateLook('reads-from-start', 3000, reader({}).read);
      jest.advanceTimersByTime(3000); // the probes waited out a silent node's timeout
      const states = look.of(['pg3']);
      await jest.advanceTimersByTimeAsync(0);
      expect(await states).toEqual({ pg3: 'unknown' });
    } finally {
      jest.useRealTimers();
    }
  });

  it('stops reading a node as a look begins once a look found it answering', async () => {
    await beginPowerStateLook('reads-back', 50, reader({ pg2: 'running' }).read).of(['pg2']);
    const answered = reader({ pg2: 'running' });
    expect(await beginPowerStateLook('reads-back', 50, answered.read).of([])).toEqual({});
    expect(answered.asked).toEqual(['pg2']);
    const after = reader({});
    expect(await beginPowerStateLook('reads-back', 50, after.read).of([])).toEqual({});
    expect(after.asked).toEqual([]);
  });

  it('keeps the clusters apart', async () => {
    await beginPowerStateLook('reads-a', 50, reader({ pg2: 'stopped' }).read).of(['pg2']);
    const other = reader({});
    beginPowerStateLook('reads-b', 50, other.read);
    await Promise.resolve();
    expect(other.asked).toEqual([]);
  });
});
