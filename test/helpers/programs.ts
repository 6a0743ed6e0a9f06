/**
 * Runs the real programs (`chat-push-server`, `chat-worker`) as child processes and reads their
 * JSON log lines to know when they are ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BINS = {
  push: `${ROOT}push-server/bin/chat-push-server.js`,
  worker: `${ROOT}queue-worker/bin/chat-worker.js`,
  producer: `${ROOT}producer-cli/bin/chat-producer.js`,
} as const;

export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

/**
 * Extra node arguments for every program a test or the bench starts: `PROGRAM_NODE_ARGS`,
 * space-separated, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile them.
 */
export function programNodeArgs(): string[] {
  return (process.env.PROGRAM_NODE_ARGS ?? '').split(' ').filter((a) => a.length > 0);
}

export class ProgramProcess {
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly kind: keyof typeof BINS, readonly proc: ChildProcess) {
    this.exited = new Promise((resolve) => proc.once('exit', (code) => { resolve(code); this.notify(); }));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try { this.logs.push(JSON.parse(line) as LogLine); } catch { this.logs.push({ msg: line }); }
      this.notify();
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => { this.stderr.push(line); this.notify(); });
  }

  /** `PROGRAM_NODE_ARGS` goes to node before the program (see `programNodeArgs`). */
  static spawn(kind: keyof typeof BINS, env: Record<string, string>, args: string[] = []): ProgramProcess {
    const proc = spawn(process.execPath, [...programNodeArgs(), BINS[kind], ...args], {
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new ProgramProcess(kind, proc);
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Resolves with the first log line that matches; rejects if the process exits first. */
  waitForLog(match: (l: LogLine) => boolean, what: string, timeoutMs = 15_000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.logs.find(match);
        if (found) { done(); resolve(found); return; }
        if (!this.running) {
          done();
          reject(new Error(`${this.kind} exited before ${what}: ${this.stderr.join('\n')}`));
        }
      };
      const timer = setTimeout(() => { done(); reject(new Error(`${this.kind}: no ${what} within ${timeoutMs} ms; stderr: ${this.stderr.join('\n')}`)); }, timeoutMs);
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.running) this.proc.kill(signal);
    return this.exited;
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the process without waiting for anything. */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    if (this.running) this.proc.kill(signal);
  }

  /** Whether the process is stopped (SIGSTOP has taken effect): state T in /proc/<pid>/stat. */
  get frozen(): boolean {
    try {
      const stat = readFileSync(`/proc/${this.proc.pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
    } catch {
      return false;
    }
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

export class PushServerProcess {
  private constructor(readonly program: ProgramProcess, readonly port: number, readonly serverId: string, readonly metricsPort?: number) {}

  static async start(env: Record<string, string>): Promise<PushServerProcess> {
    const program = ProgramProcess.spawn('push', { PORT: '0', HOST: '127.0.0.1', ...env });
    const line = await program.waitForLog((l) => l.msg === 'listening', 'listening');
    return new PushServerProcess(program, Number(line.port), String(line.serverId), line.metricsPort === undefined ? undefined : Number(line.metricsPort));
  }

  get url(): string { return `ws://127.0.0.1:${this.port}`; }
  get httpUrl(): string { return `http://127.0.0.1:${this.port}`; }
}

export async function startWorker(env: Record<string, string>): Promise<ProgramProcess> {
  const program = ProgramProcess.spawn('worker', env);
  await program.waitForLog((l) => l.msg === 'worker ready', 'worker ready');
  return program;
}

/** Runs chat-producer to completion. */
export async function runProducer(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [BINS.producer, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  return { code, stdout, stderr };
}
