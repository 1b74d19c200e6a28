import { request } from 'node:http';
import { briefAskMs } from '../../domain/brief-ask';
import type { NodeConfig } from '../../config/schema';
import type { LoadBalancerPools, PoolMember, PoolMembership, PoolRole, SetRoleResult } from '../../ports/load-balancer';
import { type PgEndpoint, withClient } from '../postgres/connect';
import { setDrained } from '../postgres/drain';
import { grantLease, readLease, revokeLease } from '../postgres/lease';

export interface ProbePoolsOptions {
  nodes: NodeConfig[];
  agentPort: number;
  leaseTtlSeconds: number;
  probeTimeoutMs: number;
  adminEndpoint(node: string): Promise<PgEndpoint>;
}

/** How long setRole('write') waits for the new holder's agent to serve its lease (it checks about once a second). */
const AGENT_CATCH_UP_MS = 5000;
/**
 * How long a drain waits for the standby's agent to answer /replica 503: its next look (a second
 * by default); an agent that looks less often answers 503 anyway once its last look is stale
 * (two check intervals plus the peers' timeout: agent/README.md).
 */
const AGENT_DRAIN_MS = 30_000;
const AGENT_POLL_MS = 100;
/** The agents' probes say which step scripts they run (agent/node_agent/server.py). */
const STEPS_HEADER = 'x-pgfo-steps';

interface ProbeAnswer {
  state: 'up' | 'down' | 'silent';
  steps?: string | null;
}

/** What a node's two probe answers say of its steps: a header either carried, else null if either answered over HTTP. */
const saidSteps = (...answers: ProbeAnswer[]): string | null | undefined =>
  answers.find((a) => typeof a.steps === 'string')?.steps ?? (answers.some((a) => a.steps === null) ? null : undefined);

/**
 * Probe mode (docs/design.md §9): every node stays in both backend pools, and the load balancer
 * sends new connections to the nodes whose agent answers its probe (`/primary`, `/replica`).
 * So the pools are what the agents answer, and moving the writer is a lease change over SQL —
 * no ARM call. A node taken out of the write pool loses the lease if it holds it and can be
 * reached; otherwise its lease lapses on its own and its agent stops answering `/primary`.
 */
export class ProbePools implements LoadBalancerPools {
  constructor(private readonly options: ProbePoolsOptions) {}

  async readPools(leaveOut: readonly string[] = [], briefly: readonly string[] = []): Promise<PoolMembership> {
    const answers = await Promise.all(
      this.options.nodes.filter((node) => !leaveOut.includes(node.name)).map(async (node) => {
        const timeoutMs = briefly.includes(node.name) ? briefAskMs(this.options.probeTimeoutMs) : this.options.probeTimeoutMs;
        const [primary, replica] = await Promise.all([this.answer(node, '/primary', timeoutMs), this.answer(node, '/replica', timeoutMs)]);
        return { name: node.name, primary: primary.state, replica: replica.state, steps: saidSteps(primary, replica) };
      }),
    );
    return {
      write: answers.filter((a) => a.primary === 'up').map((a) => a.name).sort(),
      read: answers.filter((a) => a.replica === 'up').map((a) => a.name).sort(),
      unknown: [],
      silent: answers.filter((a) => a.primary === 'silent' && a.replica === 'silent').map((a) => a.name).sort(),
      agentSteps: Object.fromEntries(answers.filter((a) => a.steps !== undefined).map((a) => [a.name, a.steps as string | null])),
    };
  }

  async setRole(member: PoolMember, role: PoolRole): Promise<SetRoleResult> {
    const endpoint = await this.options.adminEndpoint(member.name);
    if (role === 'write') {
      // A node drained as a standby (maintenance) keeps the setting in its own configuration:
      // cleared here, so that it serves reads again whenever it is a standby once more.
      const granted = await withClient(endpoint, async (client) => {
        await setDrained(client, false);
        return grantLease(client, member.name, this.options.leaseTtlSeconds);
      });
      await this.untilAgentAnswers(member.name, '/primary', true);
      return { changed: granted.changed };
    }
    // A standby's read pool is its drain setting (its agent answers /replica 503 while drained); it
    // never holds the lease (its agent answers /primary 503 in recovery). A primary leaves the write
    // pool by losing the lease; one that does not answer loses it when it lapses.
    // Its agent is asked meanwhile, for when PostgreSQL does not answer: a silent VM (a failed
    // host) then costs one timeout on a failover's path, not two in a row.
    const servesReads = role === 'none' ? this.probe(this.nodeNamed(member.name), '/replica') : Promise.resolve(false);
    const changed = await withClient(endpoint, async (client) => {
      const { rows } = await client.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery');
      if (rows[0].in_recovery) return setDrained(client, role === 'none');
      if (role === 'read') return false;
      const lease = await readLease(client);
      if (lease?.holder !== member.name) return false;
      await revokeLease(client);
      return true;
    }).catch(async (error: Error) => {
      // Not reached: out of the read pool only if its agent says so (it cannot reach PostgreSQL either).
      // An answer from before PostgreSQL failed may be a look old: only a second 200 counts.
      if ((await servesReads) && (await this.probe(this.nodeNamed(member.name), '/replica'))) {
        throw new Error(`${member.name} could not be drained (${error.message}) and its agent still answers /replica 200: it still serves reads`);
      }
      return false;
    });
    if (changed && role === 'none' && !(await this.untilAgentAnswers(member.name, '/replica', false, AGENT_DRAIN_MS))) {
      throw new Error(`${member.name} was drained, but its agent still answered /replica 200 after ${AGENT_DRAIN_MS / 1000} s`);
    }
    return { changed };
  }

  /** The agent checks its node about once a second; the caller's next look should see the change. Whether it did in time. */
  private async untilAgentAnswers(name: string, path: '/primary' | '/replica', up: boolean, withinMs = AGENT_CATCH_UP_MS): Promise<boolean> {
    const node = this.nodeNamed(name);
    const deadline = Date.now() + withinMs;
    while (Date.now() < deadline) {
      if ((await this.probe(node, path)) === up) return true;
      await new Promise((resolve) => setTimeout(resolve, AGENT_POLL_MS));
    }
    return false;
  }

  private nodeNamed(name: string): NodeConfig {
    const node = this.options.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node named ${name}`);
    return node;
  }

  /** One probe as the load balancer sends it: a fresh connection, 200 = up, anything else = down. */
  private async probe(node: NodeConfig, path: '/primary' | '/replica'): Promise<boolean> {
    return (await this.answer(node, path)).state === 'up';
  }

  /**
   * The probe's answer; `silent` when nothing answered or refused within `timeoutMs` (the probe
   * timeout). `steps`: the agent's X-Pgfo-Steps header; null when it answered without one,
   * absent when nothing answered over HTTP.
   */
  private answer(node: NodeConfig, path: '/primary' | '/replica', timeoutMs = this.options.probeTimeoutMs): Promise<ProbeAnswer> {
    return new Promise((resolve) => {
      let timedOut = false;
      const req = request({ host: node.host, port: this.options.agentPort, path, method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
        res.resume();
        const steps = res.headers[STEPS_HEADER];
        resolve({ state: res.statusCode === 200 ? 'up' : 'down', steps: typeof steps === 'string' ? steps : null });
      });
      req.on('timeout', () => {
        timedOut = true;
        req.destroy();
      });
      req.on('error', () => resolve({ state: timedOut ? 'silent' : 'down' }));
      req.end();
    });
  }
}
