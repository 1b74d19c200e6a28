import { parseResourceId, sameResourceId } from '../../../src/adapters/azure/resource-id';
import { InvalidInputError } from '../../../src/domain/errors';

describe('ARM resource ids', () => {
  test('parses resources and child resources', () => {
    expect(parseResourceId('/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/pg1', 'Microsoft.Compute/virtualMachines')).toEqual({
      subscriptionId: 's1',
      resourceGroup: 'rg',
      provider: 'Microsoft.Compute',
      type: 'virtualMachines',
      name: 'pg1',
    });
    expect(parseResourceId('/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb/backendAddressPools/w').child).toEqual({ type: 'backendAddressPools', name: 'w' });
  });

  test('rejects other shapes and other types', () => {
    expect(() => parseResourceId('pg1')).toThrow(InvalidInputError);
    expect(() => parseResourceId('/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n', 'Microsoft.Compute/virtualMachines')).toThrow(/expected a Microsoft.Compute\/virtualMachines/);
  });

  test('compares without regard to case, as ARM does', () => {
    expect(sameResourceId('/subscriptions/S/resourceGroups/RG/x', '/subscriptions/s/resourcegroups/rg/X')).toBe(true);
    expect(sameResourceId(undefined, 'x')).toBe(false);
  });
});
