/**
 * The durable client binding value the extension gives a function with a durableClient input
 * (BindingHelper.DurableOrchestrationClientToString, out-of-proc v1 protocol): webhook URL templates
 * with the system key, plus `rpcBaseUrl`, the loopback endpoint durable-functions' DurableClient
 * actually calls (the extension's LocalHttpListener, normally http://127.0.0.1:17071/durabletask/).
 */
export interface ClientBindingData {
  taskHubName: string;
  creationUrls: { createNewInstancePostUri: string; createAndWaitOnNewInstancePostUri: string };
  managementUrls: ManagementUrls;
  baseUrl: string;
  requiredQueryStringParameters: string;
  rpcBaseUrl: string;
}

export interface ManagementUrls {
  id: string;
  statusQueryGetUri: string;
  sendEventPostUri: string;
  terminatePostUri: string;
  rewindPostUri: string;
  purgeHistoryDeleteUri: string;
  restartPostUri: string;
  suspendPostUri: string;
  resumePostUri: string;
}

export const WEBHOOK_PATH = '/runtime/webhooks/durabletask';
export const RPC_PATH = '/durabletask/';
/** BindingHelper.InstanceIdPlaceholder. */
export const INSTANCE_ID_PLACEHOLDER = 'INSTANCEID';
/** The Azure Storage provider's connection name, as it appears in the management URLs. */
const CONNECTION_NAME = 'Storage';

export interface WebhookSettings {
  /** Origin of the app's HTTP endpoint, e.g. http://127.0.0.1:7071. */
  origin: string;
  taskHubName: string;
  systemKey: string;
}

export function clientBindingData(webhook: WebhookSettings, rpcBaseUrl: string): ClientBindingData {
  const baseUrl = `${webhook.origin}${WEBHOOK_PATH}`;
  const code = `code=${encodeURIComponent(webhook.systemKey)}`;
  const instancePrefix = `${baseUrl}/orchestrators/{functionName}[/{instanceId}]`;
  return {
    taskHubName: webhook.taskHubName,
    creationUrls: {
      createNewInstancePostUri: `${instancePrefix}?${code}`,
      createAndWaitOnNewInstancePostUri: `${instancePrefix}?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}&${code}`,
    },
    managementUrls: managementUrls(webhook, INSTANCE_ID_PLACEHOLDER),
    baseUrl,
    requiredQueryStringParameters: code,
    rpcBaseUrl,
  };
}

/** HttpApiHandler.GetClientResponseLinks. */
export function managementUrls(webhook: WebhookSettings, instanceId: string): ManagementUrls {
  const prefix = `${webhook.origin}${WEBHOOK_PATH}/instances/${instanceId === INSTANCE_ID_PLACEHOLDER ? instanceId : encodeURIComponent(instanceId)}`;
  const query = `taskHub=${encodeURIComponent(webhook.taskHubName)}&connection=${CONNECTION_NAME}&code=${encodeURIComponent(webhook.systemKey)}`;
  return {
    id: instanceId,
    statusQueryGetUri: `${prefix}?${query}`,
    sendEventPostUri: `${prefix}/raiseEvent/{eventName}?${query}`,
    terminatePostUri: `${prefix}/terminate?reason={text}&${query}`,
    rewindPostUri: `${prefix}/rewind?reason={text}&${query}`,
    purgeHistoryDeleteUri: `${prefix}?${query}`,
    restartPostUri: `${prefix}/restart?${query}`,
    suspendPostUri: `${prefix}/suspend?reason={text}&${query}`,
    resumePostUri: `${prefix}/resume?reason={text}&${query}`,
  };
}
