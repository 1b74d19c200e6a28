import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgEndpoint, withClient } from '../../src/adapters/postgres/connect';
import type { LabLoadBalancing } from '../local/lab-cluster';
import type { LocalStack } from '../local/stack';

/**
 * The bench's side of our two load-balancing modes (harness/local/stack.ts `loadBalancing`):
 * pools (the app moves NICs between the write and read pools through ARM) and probe (every node in
 * both pools, the node agents answer the load balancer's probes by the write lease the app grants
 * over SQL: docs/design.md §9).
 */

/** What each mode means, for the settings printed beside the figures. */
export function describeLoadBalancing(mode: LabLoadBalancing, stack: LocalStack | undefined): string {
  if (mode === 'pools') return 'load balancing "pools": the primary alone in the write pool, the standbys in the read pool; the app moves NICs between pools through ARM after promotion';
  const probes = stack?.lab.layout.ilb.probes;
  const probe = probes ? `probe every ${probes.write.intervalMs} ms, probeThreshold ${probes.write.probeThreshold}` : 'probe settings unknown (stack not up)';
  return (
    `load balancing "probe": every node in both pools; the lab load balancer routes new connections by HTTP probes (write rule ${probes?.write.path ?? '/primary'}, read rule ${probes?.read.path ?? '/replica'}; ${probe}) ` +
    'answered by each node\'s agent from the write lease the app grants over SQL after promotion (no ARM call on the write path); the health check grants the first lease and renews it, on its schedule'
  );
}

/**
 * Probe mode: moves the lab load balancer's probes to `phase` of their interval (past each
 * wall-clock multiple of it) and returns the interval; undefined in pool mode.
 */
export async function setProbePhase(stack: LocalStack, phase: number): Promise<number | undefined> {
  const interval = stack.lab.layout.ilb.probes?.write.intervalMs;
  if (interval === undefined) return undefined;
  await stack.lab.ilb().setProbePhase(phase);
  return interval;
}

/** The nodes the load balancer has probed up, per rule (probe mode); undefined in pool mode. */
async function probedUp(stack: LocalStack): Promise<{ write: string[]; read: string[] } | undefined> {
  const { states } = await stack.lab.ilb().probes();
  if (!states) return undefined;
  const up = (rule: 'write' | 'read') => Object.entries(states[rule]).filter(([, state]) => state.up).map(([name]) => name).sort();
  return { write: up('write'), read: up('read') };
}

/** A new connection through `endpoint` lands on a writable primary (not in recovery, not fenced read-only). */
export async function acceptsWrites(endpoint: PgEndpoint): Promise<boolean> {
  return withClient(
    endpoint,
    async (client) => {
      const { rows } = await client.query<{ writable: boolean }>("SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off' AS writable");
      return rows[0]?.writable === true;
    },
    { connectTimeoutMs: 2000, statementTimeoutMs: 2000 },
  );
}

/**
 * Probe mode starts with no write lease, so the write frontend takes no connection: one health
 * check grants the first lease to the primary (as test/integration/app/probe-mode.test.ts does),
 * then the agent answers /primary and the load balancer's next probe admits it. Waits until a new
 * connection through the write frontend can write; returns how long that took.
 */
export async function grantFirstLease(stack: LocalStack, timeoutMs: number): Promise<number> {
  const started = performance.now();
  const endpoint = stack.lab.appEndpoint('write');
  await stack.runtime.invokeTimer('healthCheck');
  let lastError = 'no connection through the write frontend yet';
  for (;;) {
    try {
      if (await acceptsWrites(endpoint)) return performance.now() - started;
      lastError = 'the write frontend reached a node that does not accept writes';
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (performance.now() - started > timeoutMs) {
      const up = await probedUp(stack).catch(() => undefined);
      throw new Error(`the write frontend took no write within ${Math.round(timeoutMs / 1000)} s of the first health check (${lastError}; probed up: ${JSON.stringify(up ?? null)})`);
    }
    await sleep(200);
  }
}
