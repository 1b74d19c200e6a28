import { cpus, loadavg, release, totalmem, type, hostname } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findPgBinDir } from '../lab/pg-binaries';
import { debianPackageVersion, toolVersion } from './patroni/install';

export interface MachineInfo {
  hostname: string;
  os: string;
  kernel: string;
  cpus: { count: number; model: string };
  memoryMiB: number;
  node: string;
  postgres: string;
  patroni: string;
  pysyncobj: string;
  haproxy: string;
  loadAverage: { atStart: number[]; atEnd: number[] };
}

function osName(): string {
  const file = '/etc/os-release';
  if (!existsSync(file)) return type();
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync(file, 'utf8'));
  return pretty?.[1] ?? type();
}

const rounded = (values: number[]) => values.map((v) => Math.round(v * 100) / 100);

/** Where the figures come from: the machine and every version that shapes them. */
export const loadAverageNow = (): number[] => rounded(loadavg());

/** Collected at the end, so tools installed during the run are included. */
export async function machineInfo(loadAtStart: number[]): Promise<MachineInfo> {
  const cpuList = cpus();
  let postgres = 'not found';
  try {
    postgres = await toolVersion(join(findPgBinDir(), 'postgres'), ['--version']);
  } catch (error) {
    postgres = `not found (${(error as Error).message.slice(0, 80)})`;
  }
  const [patroniPkg, haproxyPkg, pysyncobjPkg] = await Promise.all([debianPackageVersion('patroni'), debianPackageVersion('haproxy'), debianPackageVersion('python3-pysyncobj')]);
  return {
    hostname: hostname(),
    os: osName(),
    kernel: `${type()} ${release()}`,
    cpus: { count: cpuList.length, model: cpuList[0]?.model ?? 'unknown' },
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    postgres,
    patroni: patroniPkg ? `${await toolVersion('/usr/bin/patroni', ['--version'])} (Debian ${patroniPkg})` : 'not installed',
    pysyncobj: pysyncobjPkg ? `python3-pysyncobj ${pysyncobjPkg}` : 'not installed',
    haproxy: haproxyPkg ? `${(await toolVersion('haproxy', ['-v'])).replace(/ - https?:\S+/, '')} (Debian ${haproxyPkg})` : 'not installed',
    loadAverage: { atStart: loadAtStart, atEnd: loadAverageNow() },
  };
}
