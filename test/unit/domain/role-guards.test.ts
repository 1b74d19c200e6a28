import { followTargetRefusal, repointRefusal, writePoolRefusal } from '../../../src/domain/role-guards';
import { down, primary, standby } from '../../support/views';

describe('writePoolRefusal: only a reachable primary on the newest timeline enters the write pool', () => {
  it('accepts the one primary', () => {
    expect(writePoolRefusal('pg2', [down('pg1'), primary('pg2', '0/5000000', ['pg3']), standby('pg3', 'pg2', '0/5000000')])).toBeUndefined();
  });

  it('refuses a standby: the decision to promote it was not carried out', () => {
    expect(writePoolRefusal('pg2', [primary('pg1', '0/5000000'), standby('pg2', 'pg1', '0/5000000')])).toMatch(/pg2 is in recovery, not a primary/);
  });

  it('refuses an older writer beside a node on a newer timeline', () => {
    const newer = { ...primary('pg2', '0/6000000'), timeline: 3 };
    expect(writePoolRefusal('pg1', [{ ...primary('pg1', '0/5000000'), timeline: 2 }, newer])).toBe('pg1 is a primary on timeline 2, but pg2 is on timeline 3: not put into the write pool');
  });

  it('ignores a standby whose timeline number comes from another history (a fenced stray restarted read-only)', () => {
    const stray = { ...standby('pg3', 'pg1', '0/5000000'), timeline: 7 };
    expect(writePoolRefusal('pg2', [down('pg1'), { ...primary('pg2', '0/6000000'), timeline: 6 }, stray])).toBeUndefined();
  });

  it('refuses a node that does not answer, unless the pool is being restored as it was', () => {
    expect(writePoolRefusal('pg1', [down('pg1'), standby('pg2', 'pg1', '0/5000000')])).toMatch(/pg1 does not answer/);
    expect(writePoolRefusal('pg1', [down('pg1'), standby('pg2', 'pg1', '0/5000000')], { restoring: true })).toBeUndefined();
    expect(writePoolRefusal('pg1', [primary('pg2', '0/5000000'), standby('pg1', 'pg2', '0/5000000')], { restoring: true })).toMatch(/in recovery/);
  });

  it('refuses a name the cluster does not have', () => {
    expect(writePoolRefusal('pg9', [primary('pg1', '0/5000000')], { restoring: true })).toMatch(/not a node of this cluster/);
  });
});

describe('followTargetRefusal: a standby only follows a primary', () => {
  it('accepts a reachable primary, refuses a standby or a node that does not answer', () => {
    expect(followTargetRefusal('pg2', primary('pg2', '0/5000000'))).toBeUndefined();
    expect(followTargetRefusal('pg2', standby('pg2', 'pg1', '0/5000000'))).toMatch(/pg2 is not a primary/);
    expect(followTargetRefusal('pg2', down('pg2'))).toMatch(/pg2 does not answer/);
  });
});

describe('repointRefusal: a standby is re-pointed only at the write pool\'s primary, and only if it holds nothing the primary lacks', () => {
  const nodes = [primary('pg1', '0/5000000', ['pg2']), standby('pg2', 'pg1', '0/5000000'), standby('pg3', 'pg2', '0/5000000')];
  const look = (edit: Partial<Parameters<typeof repointRefusal>[2]> = {}) => ({ standby: nodes[2], nodes, writePool: ['pg1'], ...edit });

  it('accepts a standby on the primary\'s timeline at or behind its position', () => {
    expect(repointRefusal('pg3', 'pg1', look())).toBeUndefined();
  });

  it('refuses a target that is not the write pool\'s only member, not a primary, or not on the newest timeline', () => {
    expect(repointRefusal('pg3', 'pg1', look({ writePool: ['pg2'] }))).toBe('the write pool holds [pg2], not pg1 alone: pg3 is not re-pointed at it');
    expect(repointRefusal('pg3', 'pg2', look({ writePool: ['pg2'] }))).toMatch(/pg2 is not a primary/);
    expect(repointRefusal('pg3', 'pg9', look())).toMatch(/pg9 is not a node of this cluster/);
    const newer = [...nodes.slice(0, 2), { ...primary('pg3', '0/6000000'), timeline: 2 }];
    expect(repointRefusal('pg2', 'pg1', { standby: nodes[1], nodes: newer, writePool: ['pg1'] })).toMatch(/pg3 is on timeline 2: not put into the write pool/);
  });

  it('refuses a standby that has become writable or stopped answering', () => {
    expect(repointRefusal('pg3', 'pg1', look({ standby: primary('pg3', '0/5000000') }))).toMatch(/pg3 is not in recovery/);
    expect(repointRefusal('pg3', 'pg1', look({ standby: down('pg3') }))).toMatch(/pg3 does not answer/);
  });

  it('refuses one ahead of the primary on the same timeline (read before it: a diverged history)', () => {
    expect(repointRefusal('pg3', 'pg1', look({ standby: standby('pg3', 'pg2', '0/5000100') }))).toBe(
      "pg3 has WAL up to 0/5000100 on timeline 1, beyond pg1's 0/5000000 on the same timeline: a diverged history, not re-pointed (resolve by hand)",
    );
  });
});
