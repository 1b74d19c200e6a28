import { format } from 'node:util';
import { AzureLogger, setLogLevel } from '@azure/logger';
import { createAzurePorts } from '../../../src/adapters/azure';
import { VmScriptFailedError } from '../../../src/ports/errors';
import type { OperationLog } from '../../../src/ports/log';
import { ADMIN_PASSWORD, type Harness, startHarness, testCluster } from './harness';

describe('a password never leaks', () => {
  let h: Harness;
  const sdkLog: string[] = [];
  const ourLog: string[] = [];
  const log: OperationLog = {
    info: (event, fields) => ourLog.push(format(event, fields)),
    warn: (event, fields) => ourLog.push(format(event, fields)),
  };
  const originalLog = AzureLogger.log;

  beforeAll(async () => {
    h = await startHarness(testCluster('nic'));
    // Everything the Azure SDKs log, at their most talkative.
    setLogLevel('verbose');
    AzureLogger.log = (...args: unknown[]) => sdkLog.push(format(...args));
  });
  afterAll(async () => {
    AzureLogger.log = originalLog;
    setLogLevel('warning');
    await h.emulator.stop();
  });

  test('from Key Vault to a managed Run Command and back, failing script included', async () => {
    const ports = createAzurePorts(h.clients, h.cluster, { ...h.options, log });
    const password = await ports.secrets.get(h.cluster.postgres.adminPasswordSecret);
    ourLog.push(format('a careless log line: %s %j %o', password, { password }, password));

    await ports.vmCommands.runWithSecrets(h.cluster.nodes[1], {
      script: { name: 'set-password', text: 'test -n "$PGPASSWORD"\nprintf \'PGFO_RESULT {"ok":true}\\n\'' },
      parameters: { PGUSER: 'postgres' },
      secrets: { PGPASSWORD: password },
    });
    const failure = await ports.vmCommands
      .runWithSecrets(h.cluster.nodes[1], { script: { name: 'fails', text: 'echo "cannot connect" >&2\nexit 2' }, secrets: { PGPASSWORD: password } })
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(VmScriptFailedError);

    expect(sdkLog.length).toBeGreaterThan(10); // the capture works, so its silence about the secret means something
    const everything = [sdkLog.join('\n'), ourLog.join('\n'), JSON.stringify(h.emulator.record), JSON.stringify(failure), String(failure), format('%o', failure)].join('\n');
    expect(everything).not.toContain(ADMIN_PASSWORD);
    // The secret went only as a protected parameter: the emulator saw its name, never its value.
    expect(h.emulator.record.executions.map((e) => e.protectedParameterNames)).toEqual([['PGPASSWORD'], ['PGPASSWORD']]);
    expect(h.emulator.record.executions.flatMap((e) => e.parameters.map((p) => p.name))).toEqual(['PGUSER']);
  });
});
