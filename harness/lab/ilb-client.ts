import { PoolMembership } from './tcp-load-balancer';

/** Talks to the lab load balancer's control endpoint (the stand-in for Azure's pool updates). */
export class IlbControlClient {
  constructor(private readonly baseUrl: string) {}

  async health(): Promise<boolean> {
    const response = await fetch(`${this.baseUrl}/health`, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  }

  async pools(): Promise<PoolMembership> {
    const response = await fetch(`${this.baseUrl}/pools`, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`lab load balancer answered ${response.status}: ${await response.text()}`);
    return (await response.json()) as PoolMembership;
  }

  async setPools(pools: PoolMembership): Promise<PoolMembership> {
    const response = await fetch(`${this.baseUrl}/pools`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(pools),
      signal: AbortSignal.timeout(5000),
    });
    if (!response.ok) throw new Error(`lab load balancer refused the pools: ${await response.text()}`);
    return (await response.json()) as PoolMembership;
  }
}
