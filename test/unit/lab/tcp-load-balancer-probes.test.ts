import { createServer as createHttpServer, Server as HttpServer } from 'node:http';
import { createServer, Server, connect, Socket } from 'node:net';
import { once } from 'node:events';
import { HealthProbeSettings } from '../../../harness/lab/health-probes';
import { PoolMembership, TcpLoadBalancer } from '../../../harness/lab/tcp-load-balancer';
import { waitFor } from '../../../harness/util/wait';

/*
 * Probe mode of the lab's load balancer, against fake node agents (HTTP) and fake PostgreSQL
 * servers (TCP) on 127.64.14.x. Each fake agent notes, as a probe arrives, whether the balancer
 * has that backend up at that moment: a backend is probed once at a time, so the note made at
 * probe n+1 is the balancer's state after n results, and thresholds are checked by counting
 * probes, not by timing them.
 */

const address = (last: number) => `127.64.14.${last}`;
const NODES = ['a', 'b', 'c'];
const WAIT = { timeoutMs: 20_000, intervalMs: 20 };
const PRIMARY = '/primary';
const REPLICA = '/replica';

type Answer = 'pass' | 'fail' | 'hang';
interface SeenProbe {
  /** Wall-clock ms when it arrived. */
  at: number;
  upWhenAsked: boolean | undefined;
  closedUnanswered: boolean;
}

/** A node agent that answers each path as told: 200, 503, or never. */
class FakeAgent {
  private readonly answers: Record<string, Answer> = { [PRIMARY]: 'pass', [REPLICA]: 'pass' };
  private readonly seen: Record<string, SeenProbe[]> = { [PRIMARY]: [], [REPLICA]: [] };
  private readonly mark: Record<string, number> = { [PRIMARY]: 0, [REPLICA]: 0 };
  readonly server: HttpServer;

  constructor(node: string, upNow: (path: string, node: string) => boolean | undefined) {
    this.server = createHttpServer((request, response) => {
      const path = request.url ?? '';
      const answer = this.answers[path] ?? 'fail';
      const probe: SeenProbe = { at: Date.now(), upWhenAsked: upNow(path, node), closedUnanswered: false };
      this.seen[path]?.push(probe);
      if (answer === 'hang') {
        response.on('close', () => (probe.closedUnanswered = !response.writableEnded));
        return;
      }
      response.writeHead(answer === 'pass' ? 200 : 503).end();
    });
  }

  /** From now on `path` is answered so; `asked(path)` counts from here. */
  answer(path: string, answer: Answer): void {
    this.answers[path] = answer;
    this.mark[path] = this.seen[path].length;
  }

  asked(path: string): SeenProbe[] {
    return this.seen[path].slice(this.mark[path]);
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

async function listening<T extends Server | HttpServer>(server: T, host: string, port = 0): Promise<T> {
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

const portOf = (server: Server | HttpServer) => (server.address() as { port: number }).port;

async function freePort(host: string): Promise<number> {
  const server = await listening(createServer(), host);
  const port = portOf(server);
  server.close();
  return port;
}

async function openVia(frontend: { host: string; port: number }): Promise<{ socket: Socket; greeting: string }> {
  const socket = connect(frontend.port, frontend.host);
  const [data] = (await once(socket, 'data')) as [Buffer];
  return { socket, greeting: data.toString().trim() };
}

describe('lab TCP load balancer in probe mode', () => {
  let backends: Server[];
  let agents: Record<string, FakeAgent>;
  let accepted: Record<string, number>;
  let balancer: TcpLoadBalancer | undefined;
  let frontends: { write: { host: string; port: number }; read: { host: string; port: number } };
  let probePort: number;
  let opened: Socket[];

  const states = () => balancer?.probeStates();
  const isUp = (rule: 'write' | 'read', node: string) => states()?.[rule][node]?.up === true;
  const isDown = (rule: 'write' | 'read', node: string) => states()?.[rule][node]?.lastProbeAt !== undefined && !isUp(rule, node);
  const upWhenAsked = (agent: string, path: string) => agents[agent].asked(path).map((p) => p.upWhenAsked);

  beforeEach(async () => {
    accepted = Object.fromEntries(NODES.map((n) => [n, 0]));
    // A backend greets every connection with its name, then echoes.
    backends = await Promise.all(
      NODES.map((name, i) =>
        listening(
          createServer((socket) => {
            accepted[name] += 1;
            socket.write(`${name}\n`);
            socket.pipe(socket);
          }),
          address(11 + i),
        ),
      ),
    );
    // Every agent on one port (a rule probes one port), each on its own node's address: the port
    // agent a got may be taken on another address (a backend's), then another one is tried.
    const upNow = (path: string, node: string) => states()?.[path === PRIMARY ? 'write' : 'read'][node]?.up;
    for (let attempt = 1; ; attempt++) {
      agents = Object.fromEntries(NODES.map((n) => [n, new FakeAgent(n, upNow)]));
      await listening(agents.a.server, address(11));
      probePort = portOf(agents.a.server);
      const others = await Promise.allSettled(NODES.slice(1).map((n, i) => listening(agents[n].server, address(12 + i), probePort)));
      const refused = others.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (!refused) break;
      Object.values(agents).forEach((agent) => agent.close());
      if (attempt === 10 || (refused.reason as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw refused.reason;
    }
    frontends = { write: { host: address(1), port: await freePort(address(1)) }, read: { host: address(2), port: await freePort(address(2)) } };
    opened = [];
  });

  afterEach(async () => {
    opened.forEach((socket) => socket.destroy());
    await balancer?.stop();
    balancer = undefined;
    backends.forEach((server) => server.close());
    Object.values(agents).forEach((agent) => agent.close());
  });

  async function start(pools: PoolMembership, rule: Partial<HealthProbeSettings> = {}): Promise<TcpLoadBalancer> {
    const probe = (path: string) => ({ port: probePort, path, intervalMs: 300, probeThreshold: 3, ...rule });
    const backendList = NODES.map((name, i) => ({ name, host: address(11 + i), port: portOf(backends[i]) }));
    balancer = new TcpLoadBalancer(backendList, frontends, { write: probe(PRIMARY), read: probe(REPLICA) });
    await balancer.start(pools);
    return balancer;
  }

  async function greetings(frontend: { host: string; port: number }, count: number): Promise<string[]> {
    const answers: string[] = [];
    for (let i = 0; i < count; i++) {
      const { socket, greeting } = await openVia(frontend);
      opened.push(socket);
      answers.push(greeting);
    }
    return answers;
  }

  it('sends new connections only to pool members whose probe passes', async () => {
    agents.b.answer(PRIMARY, 'fail');
    agents.c.answer(REPLICA, 'fail');
    await start({ writePool: ['a', 'b'], readPool: ['b', 'c'] }, { probeThreshold: 1 });
    await waitFor('a up for writes, b for reads, the others probed down', () => isUp('write', 'a') && isUp('read', 'b') && isDown('write', 'b') && isDown('read', 'c'), WAIT);

    expect(await greetings(frontends.write, 4)).toEqual(['a', 'a', 'a', 'a']);
    expect(await greetings(frontends.read, 4)).toEqual(['b', 'b', 'b', 'b']);
    // c passes /primary but is not in the write pool: a probe alone gets nothing.
    expect(states()?.write).not.toHaveProperty('c');
    expect(states()?.read.c).toMatchObject({ up: false, lastStatus: 503 });
  });

  it('puts a backend added to a pool in rotation only after probeThreshold passed probes', async () => {
    await start({ writePool: ['a'], readPool: ['b'] }, { probeThreshold: 2 });
    await waitFor('a up for writes', () => isUp('write', 'a'), WAIT);

    balancer?.setPools({ writePool: ['a', 'c'], readPool: ['b'] });
    expect(states()?.write.c).toEqual({ up: false, consecutive: 0 });
    await waitFor('three /primary probes at c', () => agents.c.asked(PRIMARY).length >= 3, WAIT);
    expect(upWhenAsked('c', PRIMARY).slice(0, 3)).toEqual([false, false, true]);
    expect(new Set(await greetings(frontends.write, 4))).toEqual(new Set(['a', 'c']));
  });

  it('takes a backend out after exactly probeThreshold failed probes, and refuses nothing while another is up', async () => {
    await start({ writePool: ['a'], readPool: ['a', 'b'] });
    await waitFor('a and b up for reads', () => isUp('read', 'a') && isUp('read', 'b'), WAIT);

    agents.b.answer(REPLICA, 'fail');
    await waitFor('four failing /replica probes at b', () => agents.b.asked(REPLICA).length >= 4, WAIT);
    // Still up after the first and second failure, out after the third (probeThreshold 3).
    expect(upWhenAsked('b', REPLICA).slice(0, 4)).toEqual([true, true, true, false]);
    expect(states()?.read.b).toMatchObject({ up: false, lastStatus: 503 });

    const before = accepted.b;
    expect(await greetings(frontends.read, 4)).toEqual(['a', 'a', 'a', 'a']);
    expect(accepted.b).toBe(before);
  });

  it('keeps an established flow to a backend that is probed down', async () => {
    await start({ writePool: ['b'], readPool: ['a'] }, { probeThreshold: 1 });
    await waitFor('b up for writes', () => isUp('write', 'b'), WAIT);
    const { socket, greeting } = await openVia(frontends.write);
    opened.push(socket);
    expect(greeting).toBe('b');
    const cut = once(socket, 'close').then(() => '(the flow was closed)');

    agents.b.answer(PRIMARY, 'fail');
    await waitFor('b probed down for writes', () => isDown('write', 'b'), WAIT);
    socket.write('still here\n');
    const echo = await Promise.race([once(socket, 'data').then(([data]) => String(data).trim()), cut]);
    expect(echo).toBe('still here');
  });

  it('refuses a new connection at once while every backend of the rule is probed down', async () => {
    await start({ writePool: ['a'], readPool: ['a', 'b'] }, { probeThreshold: 1 });
    await waitFor('a and b up for reads', () => isUp('read', 'a') && isUp('read', 'b'), WAIT);

    agents.a.answer(REPLICA, 'fail');
    agents.b.answer(REPLICA, 'fail');
    await waitFor('a and b probed down for reads', () => isDown('read', 'a') && isDown('read', 'b'), WAIT);
    const before = { ...accepted };
    const socket = connect(frontends.read.port, frontends.read.host);
    opened.push(socket);
    socket.on('error', () => undefined);
    const outcome = await Promise.race([once(socket, 'close').then(() => 'closed'), once(socket, 'data').then(([data]) => `answered by ${String(data).trim()}`)]);
    expect(outcome).toBe('closed');
    expect(accepted).toEqual(before);
  });

  it('puts a backend back after exactly probeThreshold passed probes', async () => {
    agents.b.answer(REPLICA, 'fail');
    await start({ writePool: ['a'], readPool: ['a', 'b'] });
    await waitFor('a up and b probed down for reads', () => isUp('read', 'a') && isDown('read', 'b'), WAIT);

    agents.b.answer(REPLICA, 'pass');
    await waitFor('four passing /replica probes at b', () => agents.b.asked(REPLICA).length >= 4, WAIT);
    expect(upWhenAsked('b', REPLICA).slice(0, 4)).toEqual([false, false, false, true]);
    expect(new Set(await greetings(frontends.read, 4))).toEqual(new Set(['a', 'b']));
  });

  it('counts a probe that gets no answer as failed once the timeout has passed', async () => {
    await start({ writePool: ['a'], readPool: ['a', 'b'] }, { probeThreshold: 1, timeoutMs: 100 });
    await waitFor('a and b up for reads', () => isUp('read', 'a') && isUp('read', 'b'), WAIT);

    agents.b.answer(REPLICA, 'hang');
    // The first hung probe is given up (its connection closed unanswered) and counted as the one failure.
    const hung = () => agents.b.asked(REPLICA);
    await waitFor('the first /replica probe at b given up, and a second one', () => hung().length >= 2 && hung()[0].closedUnanswered, WAIT);
    expect(upWhenAsked('b', REPLICA).slice(0, 2)).toEqual([true, false]);
    expect(states()?.read.b).toMatchObject({ up: false, lastError: 'no answer within 100 ms' });
    expect(await greetings(frontends.read, 3)).toEqual(['a', 'a', 'a']);
  });

  it('moves its probes to a phase of the interval on the wall clock, keeping every backend up', async () => {
    const interval = 1000;
    const lb = await start({ writePool: ['a'], readPool: ['b'] }, { intervalMs: interval, probeThreshold: 1 });
    await waitFor('a probed up for writes', () => isUp('write', 'a'), WAIT);
    // Timers fire late, never early: a probe of phase p arrives in the half interval after it. The
    // first probe seen after the move may have been sent before it.
    const phasesOfNext = async (count: number) => {
      agents.a.answer(PRIMARY, 'pass');
      await waitFor(`${count + 1} more probes of a`, () => agents.a.asked(PRIMARY).length > count, WAIT);
      return agents.a.asked(PRIMARY).slice(1).map((p) => (p.at % interval) / interval);
    };
    for (const phase of [0.05, 0.55]) {
      lb.setProbePhase(phase);
      expect(isUp('write', 'a')).toBe(true);
      expect(await greetings(frontends.write, 1)).toEqual(['a']);
      for (const seen of await phasesOfNext(3)) {
        const pastPhase = (seen - phase + 1) % 1;
        expect(pastPhase < 0.45 || pastPhase > 0.99).toBe(true);
      }
    }
    expect(() => lb.setProbePhase(1)).toThrow(/probe phase must be at least 0 and less than 1, not 1/);
    expect(() => lb.setProbePhase(Number.NaN)).toThrow(/probe phase/);
    lb.setProbes(undefined);
    expect(() => lb.setProbePhase(0.5)).toThrow(/pool mode: no probes to move/);
  });

  it('goes back to pool mode, and refuses bad probe settings without changing anything', async () => {
    agents.b.answer(PRIMARY, 'fail');
    const lb = await start({ writePool: ['b'], readPool: ['a'] }, { probeThreshold: 1 });
    await waitFor('b probed down for writes', () => isDown('write', 'b'), WAIT);
    const settings = lb.probes();

    expect(() => lb.setProbes({ write: { port: probePort, path: PRIMARY, intervalMs: 300, probeThreshold: 0 }, read: settings!.read })).toThrow(/write probe: probeThreshold/);
    expect(lb.probes()).toEqual(settings);
    expect(isDown('write', 'b')).toBe(true);

    lb.setProbes(undefined);
    expect(lb.probeStates()).toBeUndefined();
    expect(await greetings(frontends.write, 1)).toEqual(['b']);
  });
});
