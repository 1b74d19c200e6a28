// The network of the sample cluster (main.bicep, deploySampleCluster=true): a VNet with a
// database subnet (NSG, NAT gateway for package downloads), a Functions subnet delegated to
// Microsoft.App/environments and a subnet for private endpoints (main.bicep privateNetwork); the
// internal Standard load balancer with a write and a read frontend (pools pg-write / pg-read); and
// the three nodes' NICs. The VMs themselves are in sample-cluster.bicep, deployed after the
// Function App (their cloud-init carries the app's URL), while this module is deployed before it
// (the app integrates into the Functions subnet).
//
// Two layouts (loadBalancing):
// - 'probe' (default): every node in both pools for good. Each NIC has two IP configurations, the
//   first in the write pool, the second in the read pool (Azure refuses two rules on one backend
//   port of one backend IP configuration without floating IP: docs/design.md §9). The write rule's
//   HTTP probe asks each node's agent /primary, the read rule's /replica; the app moves no member.
// - 'pools': TCP probes on 5432; the app moves NICs between the pools through ARM. Re-deploying
//   this module then resets the pools to their initial members (node 1 writes): after a
//   switchover, deploy main.bicep with deploySampleCluster=false (README: "After the first deployment").
import { SampleLayout, Tags } from '../types.bicep'

metadata description = 'Network of the sample PostgreSQL cluster: VNet, subnets, NSG, NAT gateway, internal load balancer, NICs.'

@description('Azure region.')
param location string

@description('Names and addresses (types.bicep sampleClusterLayout), shared with main.bicep.')
param layout SampleLayout

@description('Address space of the sample virtual network.')
param virtualNetworkPrefix string

@description('Database subnet (VMs and load balancer frontends).')
param databaseSubnetPrefix string

@description('Functions subnet (VNet integration of the Flex Consumption app).')
param functionsSubnetPrefix string

@description('Private endpoint subnet (Key Vault, storage and the app, when main.bicep\'s privateNetwork is on).')
param privateEndpointSubnetPrefix string

@description('Availability zones the nodes are spread over (the load balancer frontends are zone-redundant across them); empty = no zones.')
param zones string[]

@description('How the load balancer finds the writer: probe = the node agents answer HTTP probes (no ARM call when the primary changes); pools = the app moves NICs between the pools.')
@allowed(['probe', 'pools'])
param loadBalancing string

param tags Tags = {}

var probeMode = loadBalancing == 'probe'

resource natPublicIp 'Microsoft.Network/publicIPAddresses@2025-01-01' = {
  name: layout.natPublicIpName
  location: location
  tags: tags
  sku: { name: 'Standard' }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

// The VMs have no public address and an internal load balancer gives no outbound access:
// apt needs a way out.
resource natGateway 'Microsoft.Network/natGateways@2025-01-01' = {
  name: layout.natGatewayName
  location: location
  tags: tags
  sku: { name: 'Standard' }
  properties: {
    idleTimeoutInMinutes: 4
    publicIpAddresses: [{ id: natPublicIp.id }]
  }
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2025-01-01' = {
  name: layout.networkSecurityGroupName
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'allow-postgres-from-vnet'
        properties: {
          description: 'Clients, the Functions app (VNet integration) and replication between nodes.'
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: 'VirtualNetwork'
          sourcePortRange: '*'
          destinationAddressPrefix: databaseSubnetPrefix
          destinationPortRange: '5432'
        }
      }
      {
        name: 'allow-postgres-lb-probe'
        properties: {
          description: 'Load balancer health probes (168.63.129.16).'
          priority: 110
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: 'AzureLoadBalancer'
          sourcePortRange: '*'
          destinationAddressPrefix: databaseSubnetPrefix
          destinationPortRange: '5432'
        }
      }
      ...(probeMode
        ? [
            {
              name: 'allow-agent-lb-probe'
              properties: {
                description: 'Load balancer HTTP probes (/primary, /replica) to the node agents.'
                priority: 120
                direction: 'Inbound'
                access: 'Allow'
                protocol: 'Tcp'
                sourceAddressPrefix: 'AzureLoadBalancer'
                sourcePortRange: '*'
                destinationAddressPrefix: databaseSubnetPrefix
                destinationPortRange: string(layout.agentPort)
              }
            }
            {
              name: 'allow-agent-peers-and-app'
              properties: {
                description: 'The agents ask each other (/peer) before a primary whose lease lapsed keeps serving, and the app reads the probes\' answers (the pools it reports, the new writer seen after a lease grant).'
                priority: 130
                direction: 'Inbound'
                access: 'Allow'
                protocol: 'Tcp'
                sourceAddressPrefixes: [databaseSubnetPrefix, functionsSubnetPrefix]
                sourcePortRange: '*'
                destinationAddressPrefix: databaseSubnetPrefix
                destinationPortRange: string(layout.agentPort)
              }
            }
            {
              name: 'allow-agent-steps-from-app'
              properties: {
                description: 'The app runs its node steps (stop, promote, follow, rejoin...) on the node agents over HTTPS, Run Command being the fallback.'
                priority: 140
                direction: 'Inbound'
                access: 'Allow'
                protocol: 'Tcp'
                sourceAddressPrefix: functionsSubnetPrefix
                sourcePortRange: '*'
                destinationAddressPrefix: databaseSubnetPrefix
                destinationPortRange: string(layout.stepsPort)
              }
            }
          ]
        : [])
      {
        name: 'deny-other-inbound'
        properties: {
          description: 'Nothing else reaches the database subnet (use Run Command or Bastion to administer).'
          priority: 4000
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: '*'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
    ]
  }
}

// Subnets inline (not as child resources), so a re-deployment never tries to remove them.
// subnets[0] is the database subnet, subnets[1] the Functions subnet, subnets[2] the private endpoints'.
resource vnet 'Microsoft.Network/virtualNetworks@2025-01-01' = {
  name: layout.virtualNetworkName
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [virtualNetworkPrefix] }
    subnets: [
      {
        name: layout.databaseSubnetName
        properties: {
          addressPrefix: databaseSubnetPrefix
          networkSecurityGroup: { id: nsg.id }
          natGateway: { id: natGateway.id }
          defaultOutboundAccess: false
          // With the private network, the app's access restrictions admit this subnet; a subnet
          // rule only matches traffic that arrives through a Microsoft.Web service endpoint.
          serviceEndpoints: [{ service: 'Microsoft.Web' }]
        }
      }
      {
        name: layout.functionsSubnetName
        properties: {
          addressPrefix: functionsSubnetPrefix
          defaultOutboundAccess: false
          delegations: [
            {
              name: 'flex-consumption'
              properties: { serviceName: 'Microsoft.App/environments' }
            }
          ]
        }
      }
      {
        name: layout.privateEndpointSubnetName
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          defaultOutboundAccess: false
        }
      }
    ]
  }
}

var databaseSubnetId = vnet.properties.subnets[0].id

resource loadBalancer 'Microsoft.Network/loadBalancers@2025-01-01' = {
  name: layout.loadBalancerName
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Regional' }
  properties: {
    frontendIPConfigurations: [
      {
        name: layout.writeFrontendName
        zones: empty(zones) ? null : zones
        properties: {
          privateIPAllocationMethod: 'Static'
          privateIPAddress: layout.writeFrontendAddress
          privateIPAddressVersion: 'IPv4'
          subnet: { id: databaseSubnetId }
        }
      }
      {
        name: layout.readFrontendName
        zones: empty(zones) ? null : zones
        properties: {
          privateIPAllocationMethod: 'Static'
          privateIPAddress: layout.readFrontendAddress
          privateIPAddressVersion: 'IPv4'
          subnet: { id: databaseSubnetId }
        }
      }
    ]
    backendAddressPools: [
      { name: layout.writePool }
      { name: layout.readPool }
    ]
    // Probe mode: Azure's shortest interval, and one answer moves a node in or out (the bench's
    // realistic profile, harness/local/stack.ts, measures these settings).
    probes: probeMode
      ? [
          {
            name: 'pg-write-probe'
            properties: { protocol: 'Http', port: layout.agentPort, requestPath: '/primary', intervalInSeconds: 5, probeThreshold: 1 }
          }
          {
            name: 'pg-read-probe'
            properties: { protocol: 'Http', port: layout.agentPort, requestPath: '/replica', intervalInSeconds: 5, probeThreshold: 1 }
          }
        ]
      : [
          {
            name: 'pg-write-probe'
            properties: { protocol: 'Tcp', port: 5432, intervalInSeconds: 5, probeThreshold: 2 }
          }
          {
            name: 'pg-read-probe'
            properties: { protocol: 'Tcp', port: 5432, intervalInSeconds: 5, probeThreshold: 2 }
          }
        ]
    loadBalancingRules: [
      {
        name: 'pg-write-5432'
        properties: {
          frontendIPConfiguration: {
            id: resourceId(
              'Microsoft.Network/loadBalancers/frontendIPConfigurations',
              layout.loadBalancerName,
              layout.writeFrontendName
            )
          }
          backendAddressPool: {
            id: resourceId(
              'Microsoft.Network/loadBalancers/backendAddressPools',
              layout.loadBalancerName,
              layout.writePool
            )
          }
          probe: { id: resourceId('Microsoft.Network/loadBalancers/probes', layout.loadBalancerName, 'pg-write-probe') }
          protocol: 'Tcp'
          frontendPort: 5432
          backendPort: 5432
          idleTimeoutInMinutes: 30
          enableTcpReset: true
          enableFloatingIP: false
          disableOutboundSnat: true
          loadDistribution: 'Default'
        }
      }
      {
        name: 'pg-read-5432'
        properties: {
          frontendIPConfiguration: {
            id: resourceId(
              'Microsoft.Network/loadBalancers/frontendIPConfigurations',
              layout.loadBalancerName,
              layout.readFrontendName
            )
          }
          backendAddressPool: {
            id: resourceId(
              'Microsoft.Network/loadBalancers/backendAddressPools',
              layout.loadBalancerName,
              layout.readPool
            )
          }
          probe: { id: resourceId('Microsoft.Network/loadBalancers/probes', layout.loadBalancerName, 'pg-read-probe') }
          protocol: 'Tcp'
          frontendPort: 5432
          backendPort: 5432
          idleTimeoutInMinutes: 30
          enableTcpReset: true
          enableFloatingIP: false
          disableOutboundSnat: true
          loadDistribution: 'Default'
        }
      }
    ]
  }
}

var writePoolId = loadBalancer.properties.backendAddressPools[0].id
var readPoolId = loadBalancer.properties.backendAddressPools[1].id

// Probe mode: every node's first IP configuration in the write pool, its second in the read pool,
// for good. Pools mode: node 1 (the primary) in the write pool, the standbys in the read pool;
// from then on the app owns membership (it edits these NICs' IP configurations).
resource nics 'Microsoft.Network/networkInterfaces@2025-01-01' = [
  for (node, i) in layout.nodes: {
    name: node.nicName
    location: location
    tags: tags
    properties: {
      ipConfigurations: concat(
        [
          {
            name: 'ipconfig1'
            properties: {
              primary: true
              privateIPAllocationMethod: 'Static'
              privateIPAddress: node.address
              subnet: { id: databaseSubnetId }
              loadBalancerBackendAddressPools: [{ id: probeMode || i == 0 ? writePoolId : readPoolId }]
            }
          }
        ],
        probeMode
          ? [
              {
                name: 'ipconfig2'
                properties: {
                  primary: false
                  privateIPAllocationMethod: 'Static'
                  privateIPAddress: node.readAddress
                  subnet: { id: databaseSubnetId }
                  loadBalancerBackendAddressPools: [{ id: readPoolId }]
                }
              }
            ]
          : []
      )
    }
  }
]

output virtualNetworkId string = vnet.id
output databaseSubnetId string = databaseSubnetId
output functionsSubnetId string = vnet.properties.subnets[1].id
output privateEndpointSubnetId string = vnet.properties.subnets[2].id
output loadBalancerId string = loadBalancer.id
output writeFrontendAddress string = layout.writeFrontendAddress
output readFrontendAddress string = layout.readFrontendAddress
@description('The nodes\' NICs, in layout.nodes order.')
output nicIds string[] = [for (node, i) in layout.nodes: nics[i].id]
