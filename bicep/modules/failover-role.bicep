// The failover identity's one custom role on a cluster's resources: exactly the actions the app
// calls (bicep/roles/failover-operator.json, the same list the local Azure emulator enforces),
// instead of Virtual Machine Contributor (delete, reimage, extensions) and Network Contributor
// (NSGs, DNS, peering). The rbac-*.bicep modules assign it on each VM, NIC, load balancer,
// subnet and virtual network, never wider.
metadata description = 'Custom role of the failover identity: Run Command, power off and backend pool membership only.'

@description('The role definition\'s name, a GUID (main.bicep names it, so assignments know it before deployment).')
param roleDefinitionName string

@description('The deployment\'s namePrefix: role names are unique in a tenant.')
param deploymentName string

@description('Resource group ids (lower case) holding the cluster resources the role is assigned on.')
param clusterResourceGroupIds string[]

var role = loadJsonContent('../roles/failover-operator.json')

resource definition 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleDefinitionName
  properties: {
    roleName: '${role.roleName} (${deploymentName}, ${resourceGroup().name}, ${uniqueString(resourceGroup().id, deploymentName)})'
    description: role.description
    type: 'CustomRole'
    permissions: [
      {
        actions: map(role.permissions, permission => permission.action)
        notActions: []
      }
    ]
    assignableScopes: union([toLower(resourceGroup().id)], clusterResourceGroupIds)
  }
}
