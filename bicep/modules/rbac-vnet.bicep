// The failover role on ONE virtual network, only for IP-based backend pools: a pool address
// names its virtual network, and ARM checks
// Microsoft.Network/virtualNetworks/joinLoadBalancer/action there.
metadata description = 'The failover role for the failover identity on one virtual network (IP-based pools).'

@description('Name of the virtual network.')
param virtualNetworkName string

@description('The failover role (failover-role.bicep): its role definition name, a GUID.')
param roleDefinitionName string

@description('Principal (object) id of the failover identity.')
param principalId string

@description('Resource id of that identity (names the assignment: known before deployment, unlike the principal id).')
param identityId string

resource virtualNetwork 'Microsoft.Network/virtualNetworks@2025-01-01' existing = {
  name: virtualNetworkName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(virtualNetwork.id, identityId, roleDefinitionName)
  scope: virtualNetwork
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'pg-failover: reference this virtual network from IP-based pool addresses'
  }
}
