import type { EmulatorCore, Route } from './core';

/** The URLs handed out in Azure-AsyncOperation and Location headers. */
export function operationRoutes(core: EmulatorCore): Route[] {
  return [
    {
      method: 'GET',
      pattern: /^\/subscriptions\/[^/]+\/providers\/[^/]+\/locations\/[^/]+\/operations\/([^/]+)$/i,
      handler: async (ctx, match) => {
        const { body, headers } = core.operations.status(match[1]);
        ctx.send(200, body, headers);
      },
    },
    {
      method: 'GET',
      pattern: /^\/subscriptions\/[^/]+\/providers\/[^/]+\/locations\/[^/]+\/operationResults\/([^/]+)$/i,
      handler: async (ctx, match) => {
        const { status, body, headers } = core.operations.result(match[1]);
        ctx.send(status, body, headers);
      },
    },
  ];
}
