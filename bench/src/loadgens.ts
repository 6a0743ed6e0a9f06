/** The bench's side of the load-generator processes: forks them and asks each in turn over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadgenCommand, LoadgenReply } from './loadgen.js';
import { programNodeArgs } from '../../test/dist/helpers/programs.js';
import type { Tracked } from './proc-stats.js';

const LOADGEN_BIN = fileURLToPath(new URL('./loadgen.js', import.meta.url));

/**
 * A forked helper process of the bench (a load generator, a big room's members), asked one
 * command at a time over IPC; each command is answered by one reply whose `op` says what it is.
 * `PROGRAM_NODE_ARGS` (e.g. `--cpu-prof`) applies to it as to the programs.
 */
export class HelperProcess<C extends { op: string }, R extends { op: string }> {
  readonly proc: ChildProcess;
  private waiting: ((r: R | { op: 'failed'; error: string }) => void) | undefined;
  private readonly exited: Promise<void>;

  constructor(bin: string, private readonly what: string) {
    this.proc = fork(bin, [], { execArgv: programNodeArgs(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (r: R) => { const w = this.waiting; this.waiting = undefined; w?.(r); });
    this.exited = new Promise((resolve) => this.proc.once('exit', () => {
      this.waiting?.({ op: 'failed', error: `${what} exited` });
      resolve();
    }));
  }

  ask<K extends R['op']>(cmd: C, expect: K): Promise<Extract<R, { op: K }>> {
    return new Promise((resolve, reject) => {
      this.waiting = (r) => {
        if (r.op === expect) resolve(r as Extract<R, { op: K }>);
        else reject(new Error(r.op === 'failed' ? `${this.what}: ${(r as { error?: string }).error}` : `${this.what} answered ${r.op}, not ${expect}`));
      };
      this.proc.send(cmd);
    });
  }

  /** Asks it to close (`{ op: 'close' }`), and kills it if it has not exited 3 s later. */
  async close(): Promise<void> {
    if (this.proc.connected) this.proc.send({ op: 'close' });
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timer);
  }
}

type LoadgenProcess = HelperProcess<LoadgenCommand, LoadgenReply>;

export class Loadgens {
  private constructor(readonly procs: LoadgenProcess[]) {}

  static start(count: number): Loadgens {
    return new Loadgens(Array.from({ length: count }, (): LoadgenProcess => new HelperProcess(LOADGEN_BIN, 'load generator')));
  }

  get tracked(): Tracked[] {
    return this.procs.map((p, i) => ({ role: 'load generator', name: `loadgen-${i + 1}`, pid: p.proc.pid as number }));
  }

  /** Sends each process its own command and resolves with every answer. */
  all<R extends LoadgenReply['op']>(commands: (i: number) => LoadgenCommand, expect: R): Promise<Extract<LoadgenReply, { op: R }>[]> {
    return Promise.all(this.procs.map((p, i) => p.ask(commands(i), expect)));
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.close()));
  }
}
