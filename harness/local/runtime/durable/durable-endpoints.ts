import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAuthorized, presentedKey, type FunctionKeys } from '../http/function-keys';
import { listen, lowerCaseHeaders, readBody, requestUrl, send, type Listening } from '../http/node-http';
import { RPC_PATH, WEBHOOK_PATH } from './client-binding';
import { handleDurableApi, type ApiContext } from './durable-http-api';

/**
 * Serves the Durable Task HTTP API on node:http. Under RPC_PATH (the loopback endpoint the SDK's
 * client calls; the extension does not ask for a key there) and under WEBHOOK_PATH (public
 * webhooks; the extension's system key or the master key is required, 401 otherwise).
 * Returns false when the request is for neither path.
 */
export async function serveDurableApi(
  req: IncomingMessage,
  res: ServerResponse,
  context: ApiContext,
  keys: FunctionKeys,
  options: { rpc: boolean },
): Promise<boolean> {
  const url = requestUrl(req);
  const webhookBase = `${WEBHOOK_PATH}/`;
  let path: string;
  if (options.rpc && url.pathname.startsWith(RPC_PATH)) {
    path = url.pathname.slice(RPC_PATH.length);
  } else if (url.pathname.startsWith(webhookBase) || url.pathname === WEBHOOK_PATH) {
    const headers = lowerCaseHeaders(req);
    if (!isAuthorized('system', presentedKey(headers, url.searchParams), keys)) {
      send(res, { status: 401, headers: {} });
      return true;
    }
    path = url.pathname.slice(webhookBase.length);
  } else {
    return false;
  }
  const body = (await readBody(req)).toString('utf8');
  const response = await handleDurableApi(context, {
    method: req.method ?? 'GET',
    path,
    query: url.searchParams,
    headers: lowerCaseHeaders(req),
    body,
    origin: url.origin,
    url: url.href,
  });
  send(res, response);
  return true;
}

/** The loopback listener behind the client binding's rpcBaseUrl (the extension's LocalHttpListener). */
export async function startRpcListener(
  context: ApiContext,
  keys: FunctionKeys,
  onError: (error: unknown) => void,
  port = 0,
): Promise<Listening & { rpcBaseUrl: string }> {
  const listening = await listen(
    async (req, res) => {
      if (!(await serveDurableApi(req, res, context, keys, { rpc: true }))) send(res, { status: 404, headers: {} });
    },
    port,
    '127.0.0.1',
    onError,
  );
  return { ...listening, rpcBaseUrl: `${listening.origin}${RPC_PATH}` };
}
