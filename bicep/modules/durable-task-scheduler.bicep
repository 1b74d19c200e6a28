// The Durable Task Scheduler (DTS): the managed Durable Functions backend (durableBackend =
// 'DurableTaskScheduler', the default). A Consumption-SKU scheduler, the app's task hub in it, and
// Durable Task Data Contributor for the app's identity on that task hub only (the docs allow the
// scheduler or a task hub as scope; the scheduler would also open every other hub in it).
// DTS accepts Entra ID (managed identity) only: no key or connection secret exists.
import { Tags } from '../types.bicep'

metadata description = 'Durable Task Scheduler (Consumption) with the app\'s task hub and its data role.'

@description('Azure region.')
param location string

@description('Scheduler name (3-64 letters, digits or "-").')
@minLength(3)
@maxLength(64)
param name string

@description('Task hub name: the one the app uses (host.json hubName = %TASK_HUB_NAME%).')
@minLength(3)
@maxLength(64)
param taskHubName string

// The scheduler filters callers by source address before RBAC: an EMPTY list denies everyone
// (403 on every gRPC call), so at least one entry is required. The Flex app's egress address is
// not fixed (no NAT gateway on the Functions subnet unless you add one) and its VNet ranges only
// matter through a private endpoint, which this template does not create: the default therefore
// admits every IPv4 source and leaves authorization to Entra ID + RBAC. Restrict it to the NAT
// gateway's public IP (and the operators' addresses, for the dashboard) where you have one.
@description('Source addresses (IPv4, IPv6 or CIDR) allowed to reach the scheduler; must not be empty (empty denies all).')
@minLength(1)
param ipAllowlist string[]

@description('Principal (object) id of the function app\'s user-assigned identity.')
param principalId string

@description('Resource id of that identity (names the assignment: known before deployment, unlike the principal id).')
param identityId string

param tags Tags = {}

var durableTaskDataContributor = '0ad04412-c4d5-4796-b79c-f76d14c8d402'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'Consumption'
    }
    ipAllowlist: ipAllowlist
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

resource dataRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(taskHub.id, identityId, durableTaskDataContributor)
  scope: taskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'pg-failover: Durable Functions orchestrations, activities and entities in this task hub'
  }
}

output name string = scheduler.name
output id string = scheduler.id
@description('https://<name>-<hash>.<region>.durabletask.io (read from the resource: it carries a hash, never build it by hand).')
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
