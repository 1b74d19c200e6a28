import { PoolMembership, ProbeStates, RuleProbes } from './tcp-load-balancer';

/** The load balancer's probe mode: its settings and every backend's state, both null in pool mode. */
export interface IlbProbesView {
  settings: RuleProbes | null;
  states: ProbeStates | null;
}

/** Talks to the lab load balancer's control endpoint (the stand-in for Azure's pool and probe updates). */
export class IlbControlClient {
  constructor(private readonly baseUrl: string) {}

  async health(): Promise<boolean> {
    const response = await fetch(`${this.baseUrl}/health`, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  }

  pools(): Promise<PoolMembership> {
    return this.call('GET', '/pools');
  }

  setPools(pools: PoolMembership): Promise<PoolMembership> {
    return this.call('PUT', '/pools', pools);
  }

  probes(): Promise<IlbProbesView> {
    return this.call('GET', '/probes');
  }

  /** Probe mode with these settings, or pool mode again with null. */
  setProbes(settings: RuleProbes | null): Promise<IlbProbesView> {
    return settings ? this.call('PUT', '/probes', settings) : this.call('DELETE', '/probes');
  }

  /** Moves the probes to `phase` (0 ≤ phase < 1) of their interval past each wall-clock multiple of it. */
  setProbePhase(phase: number): Promise<{ phase: number }> {
    return this.call('PUT', '/probes/phase', { phase });
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`lab load balancer answered ${response.status} to ${method} ${path}: ${await response.text()}`);
    return (await response.json()) as T;
  }
}
