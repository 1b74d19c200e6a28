// The failover role on ONE database subnet (deployed into its VNet's resource group). Updating
// a NIC sends its whole IP configuration, and ARM checks
// Microsoft.Network/virtualNetworks/subnets/join/action on the subnet it references.
metadata description = 'The failover role for the failover identity on one subnet.'

@description('Name of the virtual network.')
param virtualNetworkName string

@description('Name of the subnet the cluster NICs are in.')
param subnetName string

@description('The failover role (failover-role.bicep): its role definition name, a GUID.')
param roleDefinitionName string

@description('Principal (object) id of the failover identity.')
param principalId string

@description('Resource id of that identity (names the assignment: known before deployment, unlike the principal id).')
param identityId string

resource virtualNetwork 'Microsoft.Network/virtualNetworks@2025-01-01' existing = {
  name: virtualNetworkName

  resource subnet 'subnets' existing = {
    name: subnetName
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(virtualNetwork::subnet.id, identityId, roleDefinitionName)
  scope: virtualNetwork::subnet
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'pg-failover: join this subnet when a cluster NIC is updated'
  }
}
