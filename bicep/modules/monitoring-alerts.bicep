// Log alert rules on the app's own telemetry (src/telemetry/names.ts: the names every query uses,
// checked by test/unit/bicep/monitoring.test.ts). Each rule notifies the action group, when one is
// given; without it the alerts still fire and show in Azure Monitor.
import { Tags } from '../types.bicep'

metadata description = 'Alert rules for the azure-pg-failover Function App.'

@description('Azure region.')
param location string

@description('Prefix of the rule names.')
param namePrefix string

@description('Application Insights component the app sends its telemetry to.')
param appInsightsId string

@description('Action group every alert notifies (resource id); empty: alerts fire without notifying anyone.')
param actionGroupId string = ''

@description('The "health check has not run" alert fires when a configured cluster has had no observed health check for this many minutes.')
@allowed([5, 10, 15, 30, 45])
param healthCheckSilenceMinutes int = 10

@description('The "cluster not healthy" alert fires when every health check of a cluster for this many minutes found it other than healthy.')
@allowed([15, 30, 60, 120])
param unhealthyMinutes int = 30

@description('Names of the configured clusters (the health-check alert watches each).')
param clusterNames string[]

param tags Tags = {}

var alerts = [
  {
    key: 'failover'
    displayName: 'pg-failover: a failover happened'
    description: 'A failover completed: the primary changed without a planned switchover. Look at the operation (GET /api/clusters/{cluster}/operations/{operationId}) and at why the old primary went away.'
    severity: 1
    query: loadTextContent('../queries/alert-failover.kql')
    dimensions: ['cluster', 'operationId']
    windowSize: 'PT5M'
    autoMitigate: false
  }
  {
    key: 'operation-failed'
    displayName: 'pg-failover: an operation failed or was aborted'
    description: 'A switchover or failover ended failed (an operator must look: the old primary may need repair) or aborted (rolled back, the cluster is as before). The reason is in the operation\'s report.'
    severity: 1
    query: loadTextContent('../queries/alert-operation-failed.kql')
    dimensions: ['cluster', 'operationId', 'outcome']
    windowSize: 'PT5M'
    autoMitigate: false
  }
  {
    key: 'health-check-silent'
    displayName: 'pg-failover: the health check has not run'
    description: 'No health check observed the cluster for ${healthCheckSilenceMinutes} minutes: no automatic failover can happen. Check that the Function App runs and can reach the cluster and Azure.'
    severity: 1
    query: 'let expectedClusters = dynamic(${string(clusterNames)});\nlet silence = ${healthCheckSilenceMinutes}m;\n${loadTextContent('../queries/alert-health-check-silent.kql')}'
    dimensions: ['cluster']
    windowSize: 'PT${healthCheckSilenceMinutes}M'
    autoMitigate: true
  }
  {
    key: 'cluster-not-healthy'
    displayName: 'pg-failover: a cluster has not been healthy'
    description: 'Every health check of the cluster for ${unhealthyMinutes} minutes found it other than healthy (degraded, a failing primary that is not failed over, ...): its next failover may be refused or slow. The findings are in GET /api/clusters/{cluster} (health.findings) and in `pg-failover status <cluster>`.'
    severity: 2
    query: 'let unhealthyFor = ${unhealthyMinutes}m;\n${loadTextContent('../queries/alert-cluster-not-healthy.kql')}'
    dimensions: ['cluster']
    windowSize: 'PT${unhealthyMinutes}M'
    autoMitigate: true
  }
  {
    key: 'lag-above-failover-bound'
    displayName: 'pg-failover: replication lag above the failover bound'
    description: 'A standby is further behind the primary than the cluster\'s policy.maxLagBytesForFailover: a failover now would be refused (or lose data with acceptDataLoss).'
    severity: 2
    query: loadTextContent('../queries/alert-lag.kql')
    dimensions: ['cluster', 'node']
    windowSize: 'PT5M'
    autoMitigate: true
  }
  {
    key: 'scheduled-events-failing'
    displayName: 'pg-failover: scheduled-event forwarding is failing'
    description: 'The app answered a scheduled event forwarded by a node\'s agent with an error: that maintenance is not coordinated and starts at its NotBefore time. Check the agent\'s configuration and the function\'s log.'
    severity: 2
    query: loadTextContent('../queries/alert-scheduled-events.kql')
    dimensions: ['cluster', 'node']
    windowSize: 'PT5M'
    autoMitigate: true
  }
]

resource rules 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in alerts: {
    name: '${namePrefix}-${alert.key}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: alert.displayName
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [appInsightsId]
      evaluationFrequency: 'PT5M'
      windowSize: alert.windowSize
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            dimensions: [for dimension in alert.dimensions: { name: dimension, operator: 'Include', values: ['*'] }]
            failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
          }
        ]
      }
      autoMitigate: alert.autoMitigate
      actions: { actionGroups: empty(actionGroupId) ? [] : [actionGroupId] }
    }
  }
]

output ruleNames string[] = [for (alert, i) in alerts: rules[i].name]
