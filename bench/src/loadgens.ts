/** The bench's side of the load-generator processes: forks them and asks each in turn over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadgenCommand, LoadgenReply } from './loadgen.js';
import type { Tracked } from './proc-stats.js';

const LOADGEN_BIN = fileURLToPath(new URL('./loadgen.js', import.meta.url));

class LoadgenProcess {
  private waiting: ((r: LoadgenReply) => void) | undefined;
  private readonly exited: Promise<void>;

  constructor(readonly proc: ChildProcess) {
    proc.on('message', (r: LoadgenReply) => { const w = this.waiting; this.waiting = undefined; w?.(r); });
    this.exited = new Promise((resolve) => proc.once('exit', () => {
      this.waiting?.({ op: 'failed', error: 'load generator exited' });
      resolve();
    }));
  }

  ask<R extends LoadgenReply['op']>(cmd: LoadgenCommand, expect: R): Promise<Extract<LoadgenReply, { op: R }>> {
    return new Promise((resolve, reject) => {
      this.waiting = (r) => {
        if (r.op === expect) resolve(r as Extract<LoadgenReply, { op: R }>);
        else reject(new Error(r.op === 'failed' ? `load generator: ${r.error}` : `load generator answered ${r.op}, not ${expect}`));
      };
      this.proc.send(cmd);
    });
  }

  async close(): Promise<void> {
    if (this.proc.connected) this.proc.send({ op: 'close' } satisfies LoadgenCommand);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timer);
  }
}

export class Loadgens {
  private constructor(readonly procs: LoadgenProcess[]) {}

  static start(count: number): Loadgens {
    // PROGRAM_NODE_ARGS (e.g. --cpu-prof) applies to the load generators as to the programs.
    const execArgv = (process.env.PROGRAM_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);
    return new Loadgens(Array.from({ length: count }, () => new LoadgenProcess(fork(LOADGEN_BIN, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))));
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
