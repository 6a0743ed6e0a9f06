/**
 * A private nginx for a test file, running the shipped `ops/nginx.conf` with its own port, its
 * own upstream list (the test's push servers) and its own files in a temporary directory (no root
 * paths). One worker process, so round robin alternates exactly between the upstreams.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { killAndWait } from './process.js';
import { waitFor } from './wait.js';

const SHIPPED = fileURLToPath(new URL('../../../ops/nginx.conf', import.meta.url));
export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p)) ?? 'nginx';

export class Nginx {
  private constructor(private readonly proc: ChildProcess, readonly port: number, private readonly dir: string, readonly stderr: string[]) {}

  static async start(upstreamPorts: number[]): Promise<Nginx> {
    if (!existsSync(NGINX)) throw new Error('nginx is not installed: apt-get install nginx (the load-balancer tests need it)');
    const dir = mkdtempSync(join(tmpdir(), 'chat-nginx-'));
    chmodSync(dir, 0o777); // nginx's workers (user nobody when run as root) write their temp files here
    const port = await freePort();
    const upstreams = upstreamPorts.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n');
    const conf = readFileSync(SHIPPED, 'utf8')
      .replace(/^worker_processes .*$/m, 'worker_processes 1;')
      .replace(/(upstream chat_push_servers \{\n(?:\s*#.*\n)*)(?:\s*server .*\n)+/, `$1${upstreams}\n`)
      .replace(/^(\s*)listen \d+;$/m, `$1listen 127.0.0.1:${port};`)
      .replace(/^http \{$/m, `http {\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n` +
        `  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;`);
    if (!conf.includes(`listen 127.0.0.1:${port};`) || !conf.includes(upstreams)) throw new Error('ops/nginx.conf no longer has the listen/upstream lines the test rewrites');
    writeFileSync(join(dir, 'nginx.conf'), `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n${conf}`);
    const proc = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const stderr: string[] = [];
    proc.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
    const nginx = new Nginx(proc, port, dir, stderr);
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`nginx exited: ${stderr.join('')} ${existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''}`);
      return (await fetch(`${nginx.httpUrl}/health`).then((r) => r.status, () => 0)) === 200 || undefined;
    }, `nginx on port ${port}`, 10_000, 50);
    return nginx;
  }

  get url(): string { return `ws://127.0.0.1:${this.port}`; }
  get httpUrl(): string { return `http://127.0.0.1:${this.port}`; }

  /** Fast shutdown (SIGTERM: the master takes its workers down), SIGKILL if that hangs. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      const exited = new Promise((r) => this.proc.once('exit', r));
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => { void killAndWait(this.proc); }, 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
