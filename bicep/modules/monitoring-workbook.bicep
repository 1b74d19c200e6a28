// The operations team's workbook on the app's telemetry (src/telemetry/names.ts): the cluster's
// operations and their steps on a timeline, replication lag per node, health verdicts.
import { Tags } from '../types.bicep'

metadata description = 'Azure Monitor workbook for the azure-pg-failover Function App.'

@description('Azure region.')
param location string

@description('Shown in the workbook\'s title.')
param namePrefix string

@description('Application Insights component the app sends its telemetry to.')
param appInsightsId string

param tags Tags = {}

@description('Grid column formatters of a workbook table.')
type GridSettings = { formatters: { columnMatch: string, formatter: int, formatOptions: { palette: string } }[] }

@description('Workbook item type 3: a KQL query on the component, drawn as `visualization`.')
type QueryItem = {
  type: int
  name: string
  content: {
    version: string
    title: string
    query: string
    size: int
    queryType: int
    resourceType: string
    visualization: string
    gridSettings: GridSettings?
  }
}

func query(name string, title string, text string, visualization string, gridSettings GridSettings?) QueryItem => {
  type: 3
  name: name
  content: {
    version: 'KqlItem/1.0'
    title: title
    query: text
    size: 0
    queryType: 0
    resourceType: 'microsoft.insights/components'
    visualization: visualization
    gridSettings: gridSettings
  }
}

var content = {
  version: 'Notebook/1.0'
  items: [
    {
      type: 1
      name: 'title'
      content: { json: '## PostgreSQL failover: ${namePrefix}\nOperations (switchovers, failovers) and their steps, replication lag per standby, and the health check\'s verdicts, from the app\'s custom events and metrics.' }
    }
    {
      type: 9
      name: 'parameters'
      content: {
        version: 'KqlParameterItem/1.0'
        queryType: 0
        resourceType: 'microsoft.insights/components'
        parameters: [
          {
            id: 'time-range'
            version: 'KqlParameterItem/1.0'
            name: 'TimeRange'
            label: 'Time range'
            type: 4
            isRequired: true
            value: { durationMs: 86400000 }
            typeSettings: { allowCustom: true, selectableValues: [{ durationMs: 3600000 }, { durationMs: 86400000 }, { durationMs: 604800000 }, { durationMs: 2592000000 }] }
          }
        ]
      }
    }
    query('operations', 'Operations', loadTextContent('../queries/workbook-operations.kql'), 'table', null)
    // A timeline as a grid: one row per step in order, its duration drawn as a bar (formatter 4).
    query('steps', 'Steps on a timeline (bar: duration)', loadTextContent('../queries/workbook-steps.kql'), 'table', {
      formatters: [{ columnMatch: 'durationMs', formatter: 4, formatOptions: { palette: 'blue' } }]
    })
    query('lag', 'Replication lag per standby (bytes, max per interval)', loadTextContent('../queries/workbook-lag.kql'), 'timechart', null)
    query('verdicts', 'Health verdicts (checks per verdict)', loadTextContent('../queries/workbook-verdicts.kql'), 'barchart', null)
    query('last-check', 'Last health check per cluster', loadTextContent('../queries/workbook-last-check.kql'), 'table', null)
  ]
  fallbackResourceIds: [appInsightsId]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // Known before deployment (a name from a runtime value would blind What-If).
  name: guid(resourceGroup().id, namePrefix, 'pg-failover-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'PostgreSQL failover (${namePrefix})'
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: string(content)
    version: '1.0'
  }
}

output workbookId string = workbook.id
