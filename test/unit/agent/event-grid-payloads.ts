/**
 * Event Grid deliveries of `Microsoft.Resources.ResourceActionSuccess` for VM power actions, shaped
 * like the documented samples (learn.microsoft.com "Azure resource group as an Event Grid source"
 * and "Azure subscription as an Event Grid source": ResourceActionSuccess example; the data
 * object of ResourceActionSuccessEventData in @azure/eventgrid). Note the subject's
 * "resourcegroups" in lower case while data.resourceUri has "resourceGroups": ARM ids compare
 * without regard to case. Claims are abridged the way the samples abridge them.
 */
export type PowerOperation = 'powerOff' | 'deallocate' | 'restart' | 'start';

export function vmActionEventGridSchema(vmResourceId: string, operation: PowerOperation, id = 'b7f3c1d2-5e6a-4f7b-8c9d-0e1f2a3b4c5d'): Record<string, unknown> {
  const [, subscriptionId, resourceGroup] = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\//i.exec(vmResourceId) ?? [];
  const action = `Microsoft.Compute/virtualMachines/${operation}/action`;
  return {
    subject: vmResourceId.replace('/resourceGroups/', '/resourcegroups/'),
    eventType: 'Microsoft.Resources.ResourceActionSuccess',
    eventTime: '2026-04-11T22:31:07.4105632Z',
    id,
    data: {
      authorization: {
        scope: vmResourceId,
        action,
        evidence: {
          role: 'Virtual Machine Contributor',
          roleAssignmentScope: `/subscriptions/${subscriptionId}`,
          roleAssignmentId: '0c4a7e8f1b2d4e6f8a9b0c1d2e3f4a5b',
          roleDefinitionId: '9980e02c-c2be-4d73-94e8-173b1dc7cf3c',
          principalId: '3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b',
          principalType: 'User',
        },
      },
      claims: {
        aud: 'https://management.core.windows.net/',
        iss: 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/',
        iat: '1775946367',
        nbf: '1775946367',
        exp: '1775950267',
        'http://schemas.microsoft.com/claims/authnmethodsreferences': 'pwd,mfa',
        appid: 'c44b4083-3bb0-49c1-b47d-974e53cbdf3c',
        appidacr: '2',
        ipaddr: '203.0.113.7',
        name: 'Operator',
        'http://schemas.microsoft.com/identity/claims/objectidentifier': '3e2f1a0b-9c8d-7e6f-5a4b-3c2d1e0f9a8b',
        'http://schemas.microsoft.com/identity/claims/scope': 'user_impersonation',
        'http://schemas.microsoft.com/identity/claims/tenantid': '72f988bf-86f1-41af-91ab-2d7cd011db47',
        ver: '1.0',
      },
      correlationId: '6a4c9e2b-7f1d-4c3e-9a8b-2d1e0f9a8b7c',
      httpRequest: {
        clientRequestId: 'e1b2c3d4-a5b6-47c8-9d0e-1f2a3b4c5d6e',
        clientIpAddress: '203.0.113.7',
        method: 'POST',
        url: `https://management.azure.com${vmResourceId}/${operation}?api-version=2024-07-01`,
      },
      resourceProvider: 'Microsoft.Compute',
      resourceUri: vmResourceId,
      operationName: action,
      status: 'Succeeded',
      subscriptionId,
      tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    },
    dataVersion: '2',
    metadataVersion: '1',
    topic: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`,
  };
}

/** The same event delivered with the CloudEvents 1.0 schema (an event subscription option). */
export function vmActionCloudEvent(vmResourceId: string, operation: PowerOperation, id = '0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0'): Record<string, unknown> {
  const grid = vmActionEventGridSchema(vmResourceId, operation, id);
  return {
    specversion: '1.0',
    type: grid.eventType,
    source: grid.topic,
    subject: grid.subject,
    id,
    time: grid.eventTime,
    data: grid.data,
  };
}
