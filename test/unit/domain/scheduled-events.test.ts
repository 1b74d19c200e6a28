import { decideMaintenance, maintenanceOperationId, nodesNamedBy, retryAfterSeconds, vmNameOf } from '../../../src/domain/scheduled-events';
import { decideVmGone, failoverRequestFor, nodeOfVm, parseVmPowerAction, powerActionOperationId } from '../../../src/domain/scheduled-events-power-actions';
import { ClusterView } from '../../../src/domain/cluster-view';
import { down, primary, standby, testCluster, view } from '../../support/views';
import { vmActionCloudEvent, vmActionEventGridSchema } from '../agent/event-grid-payloads';

const cluster = testCluster();
const healthy = (): ClusterView => view([primary('pg1', '0/5000000', ['pg2', 'pg3']), standby('pg2', 'pg1', '0/5000000'), standby('pg3', 'pg1', '0/4000000')]);
const pools = (v: ClusterView, write: string[], read: string[]): ClusterView => ({ ...v, pools: { write, read } });

describe('maintenance decisions (scheduled events, guest shutdown)', () => {
  it('switches over away from the primary, and approves a standby at once', () => {
    expect(decideMaintenance({ cluster, node: 'pg1', view: healthy() })).toEqual({ action: 'switchover', why: 'pg1 is the primary' });
    expect(decideMaintenance({ cluster, node: 'pg3', view: healthy() })).toEqual({ action: 'approve', why: 'pg3 is a standby' });
  });

  it('joins whatever operation runs (its own or another trigger\'s): single flight', () => {
    const own = { operationId: 'orders-switchover-event-aa', outcome: 'running' as const };
    expect(decideMaintenance({ cluster, node: 'pg1', own, running: { operationId: own.operationId, kind: 'switchover' } })).toEqual({
      action: 'in-progress',
      operationId: own.operationId,
      kind: 'switchover',
      joined: false,
    });
    // Even a standby waits while an operation runs: it might be the one being promoted.
    expect(decideMaintenance({ cluster, node: 'pg2', running: { operationId: 'orders-failover-x', kind: 'failover' } })).toMatchObject({ action: 'in-progress', joined: true });
  });

  it('approves once its switchover moved the primary away, never early after a refusal or an abort', () => {
    const after = pools(view([standby('pg1', 'pg2', '0/6000000'), primary('pg2', '0/6000000', ['pg1', 'pg3']), standby('pg3', 'pg2', '0/6000000')]), ['pg2'], ['pg1', 'pg3']);
    const own = { operationId: 'orders-switchover-event-aa', outcome: 'completed' as const };
    expect(decideMaintenance({ cluster, node: 'pg1', own, view: after })).toEqual({ action: 'approve', why: 'pg1 is no longer the primary (standby now)', operationId: own.operationId });

    const refused = { operationId: own.operationId, outcome: 'refused' as const, reason: 'no standby streams from pg1' };
    expect(decideMaintenance({ cluster, node: 'pg1', own: refused, view: healthy() })).toMatchObject({ action: 'wait', why: expect.stringContaining('no standby streams from pg1') });
    expect(decideMaintenance({ cluster, node: 'pg1', own: { ...refused, outcome: 'aborted' }, view: healthy() })).toMatchObject({ action: 'wait' });
  });

  it('does not approve a node whose role it cannot see while the load balancer still sends it writes', () => {
    expect(decideMaintenance({ cluster, node: 'pg1', view: view([down('pg1'), standby('pg2', 'pg1', '0/5000000', '0/5000000', 'stopped'), standby('pg3', 'pg1', null)]) })).toMatchObject({
      action: 'wait',
    });
    // Unreachable and serving nothing (or someone else is the primary): it may go.
    expect(decideMaintenance({ cluster, node: 'pg3', view: view([primary('pg1', '0/5000000'), standby('pg2', 'pg1', '0/5000000'), down('pg3')]) })).toMatchObject({ action: 'approve' });
  });

  it('picks a target outside the maintenance when the best standby goes down with the primary', () => {
    // pg2 is the best candidate but the same event reboots it; pg3 takes over.
    expect(decideMaintenance({ cluster, node: 'pg1', view: healthy(), alsoAffected: ['pg1', 'pg2'] })).toEqual({ action: 'switchover', why: 'pg1 is the primary', target: 'pg3' });
    expect(decideMaintenance({ cluster, node: 'pg1', view: healthy(), alsoAffected: ['pg1', 'pg3'] })).toEqual({ action: 'switchover', why: 'pg1 is the primary' });
    // Everyone goes down: the best candidate still beats none.
    expect(decideMaintenance({ cluster, node: 'pg1', view: healthy(), alsoAffected: ['pg1', 'pg2', 'pg3'] })).toEqual({ action: 'switchover', why: 'pg1 is the primary' });
  });

  it('derives one operation id per trigger: the same EventId always finds the same switchover', () => {
    const a = maintenanceOperationId('orders', 'pg1', { kind: 'scheduled-event', eventId: 'C7061BAC-AB2F-4C1D-9E8F-0A1B2C3D4E5F', eventType: 'Reboot' });
    expect(a).toBe(maintenanceOperationId('orders', 'pg1', { kind: 'scheduled-event', eventId: 'c7061bac-ab2f-4c1d-9e8f-0a1b2c3d4e5f', eventType: 'Reboot' }));
    expect(a).toMatch(/^orders-switchover-event-[0-9a-f]{16}$/);
    expect(a).not.toBe(maintenanceOperationId('orders', 'pg2', { kind: 'scheduled-event', eventId: 'C7061BAC-AB2F-4C1D-9E8F-0A1B2C3D4E5F', eventType: 'Reboot' }));
    expect(maintenanceOperationId('orders', 'pg1', { kind: 'shutdown', requestId: 'boot-1' })).toMatch(/^orders-switchover-shutdown-[0-9a-f]{16}$/);
  });

  it('matches the VMs an event names to nodes by VM name, without regard to case', () => {
    expect(vmNameOf(cluster.nodes[0])).toBe('pg1');
    expect(nodesNamedBy(cluster, ['PG1', 'pg3', 'other-vm'])).toEqual(['pg1', 'pg3']);
    expect(retryAfterSeconds(cluster)).toBe(5);
    expect(retryAfterSeconds({ policy: { ...cluster.policy, pollIntervalMs: 200 } })).toBe(1);
  });
});

describe('VM power actions from Event Grid', () => {
  const pg1 = cluster.nodes[0].vmResourceId;

  it.each(['powerOff', 'deallocate', 'restart'] as const)('reads a %s ResourceActionSuccess in both delivery schemas', (operation) => {
    for (const event of [vmActionEventGridSchema(pg1, operation), vmActionCloudEvent(pg1, operation)]) {
      const parsed = parseVmPowerAction(event);
      expect(parsed).toEqual({
        relevant: true,
        action: expect.objectContaining({ vmResourceId: pg1, vmName: 'pg1', operationName: `Microsoft.Compute/virtualMachines/${operation}/action`, eventId: event.id }),
      });
    }
    const what = { powerOff: 'powered off', deallocate: 'deallocated', restart: 'restarted' }[operation];
    const parsed = parseVmPowerAction(vmActionEventGridSchema(pg1, operation));
    expect(parsed.relevant && failoverRequestFor(parsed.action).reason).toMatch(new RegExp(`^VM pg1 ${what} \\(`));
  });

  it('falls back to the subject when data has no resourceUri, and finds the node without regard to case', () => {
    const event = vmActionEventGridSchema(pg1, 'powerOff');
    delete (event.data as Record<string, unknown>).resourceUri;
    const parsed = parseVmPowerAction(event);
    expect(parsed.relevant && parsed.action.vmResourceId).toContain('/resourcegroups/');
    expect(parsed.relevant && nodeOfVm([cluster], parsed.action.vmResourceId)).toEqual({ cluster, node: 'pg1' });
    expect(nodeOfVm([cluster], pg1.replace('pg1', 'pg9'))).toBeUndefined();
  });

  it('says why other events are not its business', () => {
    expect(parseVmPowerAction(vmActionEventGridSchema(pg1, 'start'))).toEqual({ relevant: false, why: expect.stringContaining('does not take a VM down') });
    expect(parseVmPowerAction({ ...vmActionEventGridSchema(pg1, 'powerOff'), eventType: 'Microsoft.Resources.ResourceWriteSuccess' })).toMatchObject({ relevant: false });
    const failed = vmActionEventGridSchema(pg1, 'powerOff');
    (failed.data as Record<string, unknown>).status = 'Failed';
    expect(parseVmPowerAction(failed)).toMatchObject({ relevant: false, why: expect.stringContaining('Failed') });
    const nic = vmActionEventGridSchema(pg1.replace('Microsoft.Compute/virtualMachines/pg1', 'Microsoft.Network/networkInterfaces/pg1-nic'), 'powerOff');
    expect(parseVmPowerAction(nic)).toMatchObject({ relevant: false, why: expect.stringContaining('not a virtual machine') });
    expect(parseVmPowerAction('hello')).toMatchObject({ relevant: false });
  });

  it('fails over a primary that went away; takes a standby out of the read pool', () => {
    const primaryGone = view([down('pg1'), standby('pg2', 'pg1', '0/5000000', '0/5000000', 'stopped'), standby('pg3', 'pg1', '0/5000000', '0/5000000', 'stopped')]);
    expect(decideVmGone(primaryGone, 'pg1')).toMatchObject({ action: 'failover' });
    expect(decideVmGone(primaryGone, 'pg1', { operationId: 'orders-switchover-1', kind: 'switchover' })).toMatchObject({ action: 'ignore' });
    const standbyGone = view([primary('pg1', '0/5000000', ['pg2']), standby('pg2', 'pg1', '0/5000000'), down('pg3')]);
    expect(decideVmGone(standbyGone, 'pg3')).toMatchObject({ action: 'remove-from-pools' });
    expect(decideVmGone(standbyGone, 'pg3', { operationId: 'orders-switchover-1', kind: 'switchover' })).toMatchObject({ action: 'remove-from-pools' });
  });

  it('does nothing when the node is already back, or when the shutdown hook moved the primary away first', () => {
    expect(decideVmGone(healthy(), 'pg1')).toMatchObject({ action: 'ignore', why: expect.stringContaining('reachable primary') });
    expect(decideVmGone(healthy(), 'pg2')).toMatchObject({ action: 'ignore', why: expect.stringContaining('streaming') });
    const movedAway = pools(view([down('pg1'), primary('pg2', '0/6000000', ['pg3']), standby('pg3', 'pg2', '0/6000000')]), ['pg2'], ['pg1', 'pg3']);
    expect(decideVmGone(movedAway, 'pg1')).toMatchObject({ action: 'remove-from-pools' });
  });

  it('derives one failover id per Event Grid event id (redelivery finds it)', () => {
    expect(powerActionOperationId('orders', 'AB-1')).toBe(powerActionOperationId('orders', 'ab-1'));
    expect(powerActionOperationId('orders', 'AB-1')).toMatch(/^orders-failover-vm-event-[0-9a-f]{16}$/);
  });
});
