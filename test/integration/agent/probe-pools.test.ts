import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { ProbePools } from '../../../src/adapters/agent/probe-pools';
import type { NodeConfig } from '../../../src/config/schema';

/**
 * What probe mode reads as the pools: each node's agent answers the load balancer's probes. An
 * agent that answers (200 or 503) or refuses the connection has said something; one that lets the
 * probe time out is silent, and a failover does not ask it again (activities/ensure-postgres-stopped.ts).
 */
describe('probe pools: what the agents answer', () => {
  const PORT = 18_432;
  const hosts = { writer: '127.77.1.1', standby: '127.77.1.2', refusing: '127.77.1.3', hung: '127.77.1.4', stopping: '127.77.1.5' };
  const servers: (Server | TcpServer)[] = [];
  const held: Socket[] = [];

  const agent = (host: string, answers: Record<string, number>, steps?: string, stepsOn = ['/primary', '/replica']) =>
    new Promise<void>((resolve) => {
      const server = createHttpServer((req, res) => {
        res.statusCode = answers[req.url ?? ''] ?? 404;
        if (steps && stepsOn.includes(req.url ?? '')) res.setHeader('X-Pgfo-Steps', steps);
        res.end();
      });
      servers.push(server);
      server.listen(PORT, host, resolve);
    });

  beforeAll(async () => {
    await agent(hosts.writer, { '/primary': 200, '/replica': 503 }, 'a1b2c3');
    await agent(hosts.standby, { '/primary': 503, '/replica': 200 });
    // One answer with the header, one without (an agent of an older release would send neither).
    await agent(hosts.stopping, { '/primary': 503, '/replica': 503 }, 'd4e5f6', ['/replica']);
    // Accepts connections and never answers: an agent that hangs.
    const hung = createTcpServer((socket) => held.push(socket));
    servers.push(hung);
    await new Promise<void>((resolve) => hung.listen(PORT, hosts.hung, resolve));
  });
  afterAll(async () => {
    held.forEach((s) => s.destroy());
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  const pools = new ProbePools({
    nodes: Object.entries(hosts).map(([name, host]) => ({ name, host }) as NodeConfig),
    agentPort: PORT,
    leaseTtlSeconds: 15,
    probeTimeoutMs: 300,
    adminEndpoint: () => Promise.reject(new Error('not used by readPools')),
  });

  it('reads the writer and the readers from the probes, and names only the agent that let them time out as silent', async () => {
    await expect(pools.readPools()).resolves.toMatchObject({ write: ['writer'], read: ['standby'], unknown: [], silent: ['hung'] });
  });

  it("reads which step scripts each agent that answered runs, from either probe (null: neither said); none for an agent that did not answer", async () => {
    expect((await pools.readPools()).agentSteps).toEqual({ writer: 'a1b2c3', standby: null, stopping: 'd4e5f6' });
  });

  it('does not ask a node left out', async () => {
    await expect(pools.readPools(['hung', 'writer', 'stopping'])).resolves.toEqual({ write: [], read: ['standby'], unknown: [], silent: [], agentSteps: { standby: null } });
  });
});
