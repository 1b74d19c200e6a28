import { isPoweredDown } from '../../../src/domain/node-state';

describe('isPoweredDown (S2: a VM that runs nothing)', () => {
  it.each(['stopped', 'deallocated'])('%s: nothing runs on it', (state) => {
    expect(isPoweredDown(state)).toBe(true);
  });

  it.each(['running', 'starting', 'stopping', 'deallocating', 'unknown'])('%s: PostgreSQL may run on it, now or in a moment', (state) => {
    expect(isPoweredDown(state)).toBe(false);
  });
});
