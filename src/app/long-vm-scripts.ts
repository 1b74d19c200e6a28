import type { ScriptResultData } from '../domain/script-result';
import { parseVmScriptResult, type RejoinMethod, RejoinResultSchema, rejoinAsStandby, type VmScriptCall, type VmScriptCallWithSecrets } from '../vm-scripts/catalogue';
import type { ClusterServices } from './services';
import { replicationSecrets } from './vm-scripts';

/**
 * The VM scripts that may run longer than one function execution may last (host.json
 * functionTimeout, docs/azure-platform.md item 4), so they never run inside one activity: the
 * activity startVmScript starts one as a managed Run Command with asyncExecution, the
 * orchestration polls it with durable timers through pollVmScript (orchestrations/vm-script-run.ts).
 *
 * Only rejoin is long: pg_basebackup copies the whole database (timeout 3600 s). Every other
 * script is bounded by its own waits of PGFO_WAIT_SECONDS (60 s) — inspect has none, promote
 * the most, three — so with Run Command's latency and the wait for a busy VM (3 min at most,
 * src/adapters/azure/options.ts) they stay well inside 10 minutes and keep running synchronously.
 *
 * For each: what it takes besides cluster and node, and what it returns.
 */
export interface LongVmScripts {
  rejoin: [{ primary: string }, { method: RejoinMethod }];
}
export type LongVmScriptName = keyof LongVmScripts;

interface LongVmScript<I, O> {
  /** The call to start: parameters from the configuration, secrets from Key Vault. */
  prepare(services: ClusterServices, node: string, input: I): Promise<VmScriptCall<unknown> | VmScriptCallWithSecrets<unknown>>;
  /** The typed result from the script's ok:true line (VmScriptResultError when it does not fit). */
  read(data: ScriptResultData): O;
}

const LONG_VM_SCRIPTS: { [K in LongVmScriptName]: LongVmScript<LongVmScripts[K][0], LongVmScripts[K][1]> } = {
  rejoin: {
    prepare: async (services, node, { primary }) => rejoinAsStandby(services.config, services.node(node), services.node(primary), await replicationSecrets(services)),
    read: (data) => ({ method: parseVmScriptResult('rejoin', RejoinResultSchema, data).method }),
  },
};

export function longVmScript<K extends LongVmScriptName>(name: K): LongVmScript<LongVmScripts[K][0], LongVmScripts[K][1]> {
  return LONG_VM_SCRIPTS[name];
}
