import type { ChildProcess } from 'node:child_process';

/** SIGKILLs a child process and waits until it is gone (no-op when it already exited). */
export async function killAndWait(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
}
