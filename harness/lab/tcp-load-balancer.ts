import { createServer, Server, Socket, connect as connectTcp } from 'node:net';
import { once } from 'node:events';
import { HealthProber, HealthProbeSettings, ProbeState } from './health-probes';

export interface Backend {
  name: string;
  host: string;
  port: number;
}

export interface Frontend {
  host: string;
  port: number;
}

export interface PoolMembership {
  writePool: string[];
  readPool: string[];
}

type PoolName = keyof PoolMembership;

/** A load-balancing rule: the write or the read frontend with its pool. */
export type Rule = 'write' | 'read';
const ruleOf: Record<PoolName, Rule> = { writePool: 'write', readPool: 'read' };

/** Probe mode: one HTTP health probe per rule. */
export type RuleProbes = Record<Rule, HealthProbeSettings>;
export type ProbeStates = Record<Rule, Record<string, ProbeState>>;

/**
 * Plays Azure's Standard internal load balancer for the lab: a write and a read frontend, each
 * forwarding NEW connections round-robin to the current members of its backend pool. Like Azure,
 * changing a pool leaves established flows alone, and an empty pool accepts no connection.
 *
 * Probe mode (given `probes`): a new connection goes only to a pool member whose rule's health probe
 * has it up, and is refused when none is (Azure's default NoHealthyBackendsBehavior, AllProbedDown:
 * https://learn.microsoft.com/en-us/javascript/api/@azure/arm-network/knownprobenohealthybackendsbehavior);
 * a backend probed down keeps its established flows, as on a Standard load balancer.
 */
export class TcpLoadBalancer {
  private membership: PoolMembership = { writePool: [], readPool: [] };
  private readonly servers: Server[] = [];
  private readonly nextIndex: Record<PoolName, number> = { writePool: 0, readPool: 0 };
  private readonly flows = new Set<Socket>();
  private probers?: Record<Rule, HealthProber>;
  private started = false;
  /** Told when a backend's probe state flips (the daemon logs it). */
  onProbeChange: (rule: Rule, backend: string, state: ProbeState) => void = () => undefined;

  constructor(
    private readonly backends: Backend[],
    private readonly frontends: { write: Frontend; read: Frontend },
    probes?: RuleProbes,
  ) {
    this.setProbes(probes);
  }

  async start(initial: PoolMembership): Promise<void> {
    this.started = true;
    this.setPools(initial);
    this.startProbing();
    for (const [pool, frontend] of [['writePool', this.frontends.write], ['readPool', this.frontends.read]] as const) {
      const server = createServer((socket) => this.forward(pool, socket));
      server.listen(frontend.port, frontend.host);
      await once(server, 'listening');
      this.servers.push(server);
    }
  }

  pools(): PoolMembership {
    return { writePool: [...this.membership.writePool], readPool: [...this.membership.readPool] };
  }

  setPools(next: PoolMembership): void {
    const known = new Set(this.backends.map((b) => b.name));
    const unknown = [...next.writePool, ...next.readPool].filter((name) => !known.has(name));
    if (unknown.length) throw new Error(`unknown backend(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`);
    this.membership = { writePool: [...new Set(next.writePool)], readPool: [...new Set(next.readPool)] };
    this.probers?.write.setPool(this.membership.writePool);
    this.probers?.read.setPool(this.membership.readPool);
  }

  /** The probe settings in force (timeouts filled in), or undefined in pool mode. */
  probes(): RuleProbes | undefined {
    return this.probers && { write: { ...this.probers.write.settings }, read: { ...this.probers.read.settings } };
  }

  /**
   * Switches probe mode on (or off, with undefined). A rule whose settings change starts afresh,
   * every backend down until probed up; a rule whose settings stay keeps its states.
   */
  setProbes(next: RuleProbes | undefined): void {
    const current = this.probers;
    const same = (rule: Rule, settings: HealthProbeSettings) => current && JSON.stringify(current[rule].settings) === JSON.stringify(settings);
    const proberFor = (rule: Rule) => {
      const candidate = new HealthProber(next?.[rule] as HealthProbeSettings, rule, this.backends, (backend, state) => this.onProbeChange(rule, backend, state));
      return same(rule, candidate.settings) ? (current as Record<Rule, HealthProber>)[rule] : candidate;
    };
    // Both rules are checked before anything changes, so a bad setting leaves the balancer as it was.
    const replacement = next && { write: proberFor('write'), read: proberFor('read') };
    for (const rule of ['write', 'read'] as const) if (current && current[rule] !== replacement?.[rule]) current[rule].stop();
    this.probers = replacement;
    this.probers?.write.setPool(this.membership.writePool);
    this.probers?.read.setPool(this.membership.readPool);
    if (this.started) this.startProbing();
  }

  /** Moves both rules' probes to `phase` of their interval (HealthProber.setPhase); refused in pool mode. */
  setProbePhase(phase: number): void {
    if (!this.probers) throw new Error('pool mode: no probes to move');
    for (const rule of ['write', 'read'] as const) this.probers[rule].setPhase(phase);
  }

  probeStates(): ProbeStates | undefined {
    return this.probers && { write: this.probers.write.snapshot(), read: this.probers.read.snapshot() };
  }

  async stop(): Promise<void> {
    this.started = false;
    this.probers?.write.stop();
    this.probers?.read.stop();
    for (const socket of this.flows) socket.destroy();
    await Promise.all(this.servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }

  private startProbing(): void {
    this.probers?.write.start();
    this.probers?.read.start();
  }

  private pick(pool: PoolName): Backend | undefined {
    const prober = this.probers?.[ruleOf[pool]];
    const members = prober ? this.membership[pool].filter((name) => prober.isUp(name)) : this.membership[pool];
    if (members.length === 0) return undefined;
    const name = members[this.nextIndex[pool]++ % members.length];
    return this.backends.find((b) => b.name === name);
  }

  private forward(pool: PoolName, client: Socket): void {
    const backend = this.pick(pool);
    if (!backend) {
      client.destroy();
      return;
    }
    const upstream = connectTcp(backend.port, backend.host);
    for (const socket of [client, upstream]) {
      this.flows.add(socket);
      socket.setNoDelay(true);
      socket.on('close', () => this.flows.delete(socket));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
  }
}
