import { VmScriptCall, VmScriptCallWithSecrets } from '../vm-scripts/catalogue';
import { ClusterServices } from './services';

/** Runs one VM script on a node through Run Command (protected parameters when it carries secrets) and reads its result. */
export async function runVmScript<T>(services: ClusterServices, nodeName: string, call: VmScriptCall<T> | VmScriptCallWithSecrets<T>): Promise<T> {
  const node = services.node(nodeName);
  const outcome = 'secrets' in call ? await services.vmCommands.runWithSecrets(node, call) : await services.vmCommands.run(node, call);
  return call.parseResult(outcome.result);
}

/** The same script on the node's own agent only: undefined when there is none or it did not run it (no Run Command). */
export async function askNodeAgent<T>(services: ClusterServices, nodeName: string, call: VmScriptCall<T>): Promise<T | undefined> {
  const outcome = await services.vmCommands.askNodeAgent?.(services.node(nodeName), call);
  return outcome && call.parseResult(outcome.result);
}

/** The passwords the follow and rejoin scripts need, from Key Vault. */
export async function replicationSecrets(services: ClusterServices) {
  const [replicationPassword, adminPassword] = await Promise.all([
    services.secrets.get(services.config.postgres.replicationPasswordSecret),
    services.secrets.get(services.config.postgres.adminPasswordSecret),
  ]);
  return { replicationPassword, adminPassword };
}
