import { createHmac } from 'node:crypto';
import type { EmulatorCore, Route } from './core';
import { AzureHttpError, notFound, optionalArray, requireObject, requireString, type RequestContext } from './http-kit';
import { actionRunCommandMessage, tailBytes } from './output-tail';
import type { ScriptExecutionRecord } from './record';
import { isOff, key, type ManagedRunCommandState, type VmState } from './state';
import { type OperationScope, vmLookup, vmRoute as route } from './vm-paths';

const BUSY_MESSAGE = 'Run command extension execution is in progress. Please wait for completion before invoking a run command.';
const RUN_COMMAND_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/;

/** Action Run Command (POST .../runCommand) and managed Run Commands (.../runCommands/{name}). */
export function runCommandRoutes(core: EmulatorCore): Route[] {
  const { vmOf, scope } = vmLookup(core);
  return [
    route('POST', '/runCommand', 'Microsoft.Compute/virtualMachines/runCommand/action', async (ctx, match) => {
      const vm = vmOf(match);
      const body = requireObject(await ctx.json(), 'the request body');
      const commandId = requireString(body.commandId, 'commandId');
      if (commandId !== 'RunShellScript') throw new AzureHttpError(400, 'InvalidParameter', `The emulator runs only commandId 'RunShellScript', not '${commandId}'.`);
      const script = optionalArray(body.script, 'script').map((line, i) => requireString(line, `script[${i}]`));
      const parameters = readParameters(body.parameters, 'parameters');
      claimForRunCommand(vm);
      const operation = core.operations.begin(scope(vm, ctx), core.latency.retryAfterSeconds.compute);
      const execution = recordExecution(core, { vm: vm.name, kind: 'action', scriptText: script.join('\n'), parameters, protectedParameterNames: [], state: 'running' });
      ctx.send(202, undefined, operation.headers());
      void (async () => {
        await core.timers.after(core.latency.actionRunCommand.dispatchMs);
        // The RunCommandLinux extension prepends `export NAME=value` and `set -- value...` to the script.
        const result = await execute(core, vm, execution, Object.fromEntries(parameters.map((p) => [p.name, p.value])), parameters.map((p) => p.value), undefined);
        await core.timers.after(core.latency.actionRunCommand.reportMs);
        vm.runCommandBusy = false;
        operation.succeed({ value: [{ code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Provisioning succeeded', message: actionRunCommandMessage(result.stdout, result.stderr) }] });
      })();
    }),
    route('GET', '/runCommands', 'Microsoft.Compute/virtualMachines/runCommands/read', async (ctx, match) => {
      const vm = vmOf(match);
      const expand = /instanceView/i.test(ctx.query('$expand') ?? '');
      ctx.send(200, { value: [...vm.runCommands.values()].map((rc) => runCommandBody(rc, expand)) });
    }),
    route('GET', '/runCommands/([^/]+)', 'Microsoft.Compute/virtualMachines/runCommands/read', async (ctx, match) => {
      const rc = vmOf(match).runCommands.get(key(match[4]));
      if (!rc) throw notFound('Microsoft.Compute/virtualMachines/runCommands', `${match[3]}/${match[4]}`, match[2]);
      ctx.send(200, runCommandBody(rc, /instanceView/i.test(ctx.query('$expand') ?? '')));
    }),
    route('PUT', '/runCommands/([^/]+)', 'Microsoft.Compute/virtualMachines/runCommands/write', async (ctx, match) => putManagedRunCommand(core, ctx, vmOf(match), match[4], scope)),
    route('DELETE', '/runCommands/([^/]+)', 'Microsoft.Compute/virtualMachines/runCommands/delete', async (ctx, match) => {
      const vm = vmOf(match);
      const rc = vm.runCommands.get(key(match[4]));
      if (!rc) return ctx.send(204);
      rc.provisioningState = 'Deleting';
      const operation = core.operations.begin(scope(vm, ctx), core.latency.retryAfterSeconds.compute);
      ctx.send(202, undefined, operation.headers());
      await core.timers.after(core.latency.deleteRunCommandMs);
      if (vm.runCommands.get(key(match[4])) === rc) vm.runCommands.delete(key(match[4]));
      operation.succeed();
    }),
  ];
}

function readParameters(value: unknown, what: string): { name: string; value: string }[] {
  return optionalArray(value, what).map((item, i) => {
    const p = requireObject(item, `${what}[${i}]`);
    return { name: requireString(p.name, `${what}[${i}].name`), value: requireString(p.value, `${what}[${i}].value`) };
  });
}

/** One Run Command at a time per VM, and only on a running VM. */
function claimForRunCommand(vm: VmState): void {
  if (vm.powerState !== 'running') {
    throw new AzureHttpError(409, 'OperationNotAllowed', `Operation 'RunCommand' is not allowed on VM '${vm.name}' since the VM is ${vm.powerState}.`);
  }
  if (vm.runCommandBusy) throw new AzureHttpError(409, 'Conflict', BUSY_MESSAGE);
  vm.runCommandBusy = true;
}

function recordExecution(core: EmulatorCore, execution: ScriptExecutionRecord): ScriptExecutionRecord {
  core.record.executions.push(execution);
  return execution;
}

async function execute(core: EmulatorCore, vm: VmState, execution: ScriptExecutionRecord, env: Record<string, string>, args: string[], timeoutMs: number | undefined) {
  let result;
  const poweredOff = new AbortController();
  // Gone off between the claim and the start: the script never runs.
  if (isOff(vm.powerState)) poweredOff.abort();
  vm.runningScript = poweredOff;
  try {
    result = await core.executor({ name: vm.name, resourceId: vm.id, privateIp: vm.privateIp }, execution.scriptText, env, { args, timeoutMs, poweredOff: poweredOff.signal });
  } catch (error) {
    // The agent could not start the script at all; report it the way a shell would.
    result = { stdout: '', stderr: `failed to run the script: ${(error as Error).message}\n`, exitCode: 127 };
  } finally {
    vm.runningScript = undefined;
  }
  execution.state = 'finished';
  execution.exitCode = result.exitCode;
  if (result.timedOut) execution.timedOut = true;
  return result;
}

/** Managed Run Commands one VM keeps at most. */
export const MAX_RUN_COMMANDS_PER_VM = 25;

async function putManagedRunCommand(core: EmulatorCore, ctx: RequestContext, vm: VmState, name: string, scope: (vm: VmState, ctx: RequestContext) => OperationScope) {
  if (!RUN_COMMAND_NAME.test(name)) throw new AzureHttpError(400, 'InvalidParameter', `The run command name '${name}' is invalid.`);
  const body = requireObject(await ctx.json(), 'the request body');
  const location = requireString(body.location, 'location');
  const properties = requireObject(body.properties ?? {}, 'properties');
  const source = requireObject(properties.source, 'properties.source');
  if (source.script === undefined) throw new AzureHttpError(400, 'InvalidParameter', 'The emulator runs only inline scripts (properties.source.script).');
  const script = requireString(source.script, 'properties.source.script');
  const parameters = readParameters(properties.parameters, 'properties.parameters');
  const protectedParameters = readParameters(properties.protectedParameters, 'properties.protectedParameters');
  const timeoutInSeconds = properties.timeoutInSeconds === undefined ? undefined : Number(properties.timeoutInSeconds);
  const fingerprint = createHmac('sha256', core.fingerprintKey).update(JSON.stringify([location, script, parameters, protectedParameters, properties.asyncExecution, timeoutInSeconds])).digest('hex');

  const existing = vm.runCommands.get(key(name));
  if (existing && existing.fingerprint === fingerprint) {
    // Azure: the same request under the same name does not run the script again.
    return ctx.send(200, runCommandBody(existing, false));
  }
  if (!existing && vm.runCommands.size >= MAX_RUN_COMMANDS_PER_VM) {
    // The limit is documented (../shared/azure-facts.md: "Max 25 per VM"); the error's code and text are ours.
    throw new AzureHttpError(409, 'OperationNotAllowed', `Virtual machine '${vm.name}' already has ${vm.runCommands.size} run commands, the maximum of ${MAX_RUN_COMMANDS_PER_VM}: delete run commands that are no longer needed.`);
  }
  claimForRunCommand(vm);
  const rc: ManagedRunCommandState = {
    name,
    id: `${vm.id}/runCommands/${name}`,
    location,
    script,
    parameters,
    protectedParameterNames: protectedParameters.map((p) => p.name),
    fingerprint,
    asyncExecution: properties.asyncExecution === true,
    timeoutInSeconds,
    treatFailureAsDeploymentFailure: properties.treatFailureAsDeploymentFailure === true,
    provisioningState: existing ? 'Updating' : 'Creating',
    instanceView: { executionState: 'Pending' },
  };
  vm.runCommands.set(key(name), rc);
  const execution = recordExecution(core, { vm: vm.name, kind: 'managed', runCommandName: name, scriptText: script, parameters, protectedParameterNames: rc.protectedParameterNames, state: 'running' });
  const operation = core.operations.begin(scope(vm, ctx), core.latency.retryAfterSeconds.compute);
  ctx.send(existing ? 200 : 201, runCommandBody(rc, false), operation.headers({ location: false }));

  // Protected values live only in this closure, for the one execution.
  const env = Object.fromEntries([...parameters, ...protectedParameters].map((p) => [p.name, p.value]));
  void (async () => {
    await core.timers.after(core.latency.managedRunCommand.dispatchMs);
    rc.instanceView = { executionState: 'Running', startTime: new Date().toISOString() };
    if (rc.asyncExecution) {
      rc.provisioningState = 'Succeeded';
      operation.succeed();
    }
    const result = await execute(core, vm, execution, env, [], timeoutInSeconds === undefined ? undefined : timeoutInSeconds * 1000);
    const state = result.timedOut ? 'TimedOut' : result.exitCode === 0 ? 'Succeeded' : 'Failed';
    const endTime = new Date().toISOString();
    // The instance view is what the VM agent has reported, and it reports the end after it (the
    // profile's reportMs): until then a GET still shows Running. With asyncExecution nothing else
    // tells a caller the script ended ("provisioning will complete as soon as the script starts
    // and will not wait for script to complete": REST API reference, Virtual Machine Run Commands -
    // Create Or Update, properties.asyncExecution), so showing the end earlier would be kinder than Azure.
    await core.timers.after(core.latency.managedRunCommand.reportMs);
    rc.instanceView = {
      executionState: state,
      executionMessage: state === 'Succeeded' ? 'Execution completed' : state === 'TimedOut' ? 'Execution timed out' : 'Execution failed',
      exitCode: result.exitCode ?? -1,
      output: tailBytes(result.stdout),
      error: tailBytes(result.stderr),
      startTime: rc.instanceView.startTime,
      endTime,
    };
    vm.runCommandBusy = false;
    if (rc.asyncExecution) return;
    if (state !== 'Succeeded' && rc.treatFailureAsDeploymentFailure) {
      rc.provisioningState = 'Failed';
      operation.fail('VMExtensionProvisioningError', `VM has reported a failure when processing extension 'RunCommandHandlerLinux': ${rc.instanceView.executionMessage}`);
    } else {
      rc.provisioningState = 'Succeeded';
      operation.succeed();
    }
  })();
}

function runCommandBody(rc: ManagedRunCommandState, withInstanceView: boolean) {
  return {
    id: rc.id,
    name: rc.name,
    type: 'Microsoft.Compute/virtualMachines/runCommands',
    location: rc.location,
    properties: {
      source: { script: rc.script },
      parameters: rc.parameters,
      // protectedParameters are write-only: Azure never returns them.
      asyncExecution: rc.asyncExecution,
      ...(rc.timeoutInSeconds === undefined ? {} : { timeoutInSeconds: rc.timeoutInSeconds }),
      treatFailureAsDeploymentFailure: rc.treatFailureAsDeploymentFailure,
      provisioningState: rc.provisioningState,
      ...(withInstanceView ? { instanceView: rc.instanceView } : {}),
    },
  };
}

