/** CPU time and resident memory of processes, read from /proc (Linux). */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** User + system CPU seconds the process has used so far (0 once it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** A named process whose CPU use is accounted for, by role (push, worker, redis, loadgen, …). */
export interface Tracked { role: string; name: string; pid: number }

/** CPU seconds per tracked process, taken now. */
export function cpuSnapshot(procs: Tracked[]): Map<string, number> {
  return new Map(procs.map((p) => [p.name, cpuSeconds(p.pid)]));
}
