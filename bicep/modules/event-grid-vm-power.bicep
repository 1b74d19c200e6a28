// Deployed into a resource group holding cluster VMs (main.bicep: one per such group, only with
// deployEventSubscription=true). An Event Grid system topic on the resource group (Azure
// publishes every successful ARM action on its resources to it) and one subscription delivering
// the VM power actions that take PostgreSQL away (power off, deallocate, restart) to the app's
// Event Grid trigger vmPowerEvents (src/functions/event-grid-vm-power.ts), which fails over a
// primary that went away or takes a standby out of the read pool.
//
// Azure allows one system topic per source: if this resource group already has one (made for
// something else), this deployment fails on it; add the subscription below to that topic instead.
import { Tags } from '../types.bicep'

metadata description = 'Event Grid system topic on a resource group of cluster VMs, subscribed to VM power actions for the failover app.'

@description('Name of the system topic (unique in this resource group).')
param systemTopicName string

@description('The Azure Function to deliver to: <Function App resource id>/functions/vmPowerEvents. The function must exist (the code is published) when this deploys.')
param functionResourceId string

param tags Tags = {}

@description('ARM operations reported by Microsoft.Resources.ResourceActionSuccess that take a VM down (src/domain/scheduled-events-power-actions.ts VM_POWER_ACTIONS).')
var vmPowerOperations = [
  'Microsoft.Compute/virtualMachines/powerOff/action'
  'Microsoft.Compute/virtualMachines/deallocate/action'
  'Microsoft.Compute/virtualMachines/restart/action'
]

// A resource group's system topic is not regional: its location is 'global'.
resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: 'global'
  tags: tags
  properties: {
    source: resourceGroup().id
    topicType: 'Microsoft.Resources.ResourceGroups'
  }
}

resource vmPowerSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: 'pg-failover-vm-power'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: functionResourceId
        // The trigger takes one event per invocation.
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: ['Microsoft.Resources.ResourceActionSuccess']
      // String comparisons of advanced filters ignore case.
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: vmPowerOperations
        }
      ]
    }
    // The function throws when it cannot act (e.g. the cluster cannot be inspected), so Event
    // Grid delivers again; after an hour the health check has long since acted on its own.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 60
    }
  }
}

output systemTopicId string = systemTopic.id
output eventSubscriptionId string = vmPowerSubscription.id
