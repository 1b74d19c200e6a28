// The private network (main.bicep privateNetwork): a private endpoint for each service the app
// and the sample VMs reach — Key Vault (vault), the storage account's services the app uses (blob
// always: host locks and keys, the Flex deployment package; queue and table with the AzureStorage
// Durable backend) and the Function App itself (sites, which also covers its scm site) — in one
// subnet, each with a DNS zone group, so that its name resolves to the endpoint's private address
// in every virtual network linked to the zone. Key Vault and storage turn public network access off
// themselves (key-vault.bicep, storage.bicep); the app keeps its public endpoint, restricted
// (function-app.bicep): Event Grid cannot deliver to a private endpoint.
//
// createDnsZones = false leaves DNS to the operator (e.g. central privatelink zones in a hub, with
// their own links): no zone, link or zone group is created here then.
import { Tags } from '../types.bicep'

metadata description = 'Private endpoints (and their private DNS zones) for Key Vault, storage and the Function App.'

@description('Azure region of the private endpoints (the zones are global).')
param location string

@description('Prefix of the endpoint names.')
param namePrefix string

@description('Subnet the private endpoints are placed in.')
@minLength(1)
param subnetId string

@description('Create the private DNS zones, link them to virtualNetworkIds and register each endpoint in its zone.')
param createDnsZones bool = true

@description('Virtual networks the zones are linked to (resolving the services to their private endpoints there): those of the endpoint subnet, the app\'s integration subnet and the database subnets.')
param virtualNetworkIds string[] = []

@description('Key Vault resource id.')
param keyVaultId string

@description('Storage account resource id.')
param storageAccountId string

@description('The storage services the app uses (storage.bicep output dataServices): blob, and queue and table with the AzureStorage Durable backend.')
param storageServices string[]

@description('Function App resource id.')
param functionAppId string

param tags Tags = {}

// One endpoint per target sub-resource, each with its own zone. The Key Vault zone is derived from
// the cloud's vault suffix (.vault.azure.net → privatelink.vaultcore.azure.net, and likewise in
// sovereign clouds); App Service has no suffix in environment(): its zone is the public cloud's.
var endpoints = concat(
  [
    {
      groupId: 'vault'
      zone: 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.')}'
    }
  ],
  map(storageServices, service => {
    groupId: service
    zone: 'privatelink.${service}.${environment().suffixes.storage}'
  }),
  [
    {
      groupId: 'sites'
      zone: 'privatelink.azurewebsites.net'
    }
  ]
)

// Every (zone, virtual network) pair.
var links = flatten(map(
  range(0, length(endpoints)),
  zone => map(range(0, length(virtualNetworkIds)), vnet => { zone: zone, vnet: vnet })
))

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for endpoint in endpoints: if (createDnsZones) {
    name: endpoint.zone
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for link in links: if (createDnsZones) {
    parent: zones[link.zone]
    name: take(
      '${last(split(virtualNetworkIds[link.vnet], '/'))}-${uniqueString(toLower(virtualNetworkIds[link.vnet]))}',
      80
    )
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: { id: virtualNetworkIds[link.vnet] }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2025-01-01' = [
  for endpoint in endpoints: {
    name: '${namePrefix}-pe-${endpoint.groupId}'
    location: location
    tags: tags
    properties: {
      subnet: { id: subnetId }
      customNetworkInterfaceName: '${namePrefix}-pe-${endpoint.groupId}-nic'
      privateLinkServiceConnections: [
        {
          name: endpoint.groupId
          properties: {
            privateLinkServiceId: endpoint.groupId == 'vault'
              ? keyVaultId
              : endpoint.groupId == 'sites' ? functionAppId : storageAccountId
            groupIds: [endpoint.groupId]
          }
        }
      ]
    }
  }
]

// The zone group writes the endpoint's A records into its zone (for sites: the app and its scm host).
resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2025-01-01' = [
  for (endpoint, i) in endpoints: if (createDnsZones) {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: replace(endpoint.zone, '.', '-')
          properties: { privateDnsZoneId: zones[i].id }
        }
      ]
    }
  }
]
