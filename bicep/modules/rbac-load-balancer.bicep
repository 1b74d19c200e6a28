// The failover role on ONE internal load balancer (deployed into its resource group): joining
// its backend pools (NIC-based) or editing them (IP-based).
metadata description = 'The failover role for the failover identity on one load balancer.'

@description('Name of the load balancer.')
param loadBalancerName string

@description('The failover role (failover-role.bicep): its role definition name, a GUID.')
param roleDefinitionName string

@description('Principal (object) id of the failover identity.')
param principalId string

@description('Resource id of that identity (names the assignment: known before deployment, unlike the principal id).')
param identityId string

resource loadBalancer 'Microsoft.Network/loadBalancers@2025-01-01' existing = {
  name: loadBalancerName
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(loadBalancer.id, identityId, roleDefinitionName)
  scope: loadBalancer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'pg-failover: change the write and read backend pools'
  }
}
