/**
 * Command-line plumbing shared by the three programs: one flag per setting, generated from the
 * settings table, and one-line fatal errors.
 */
import { Command } from 'commander';
import { ConfigError, loadConfig, SETTINGS, type Config, type FlagValues, type SettingKey } from './config.js';
import { createLogger, type Logger } from './logger.js';

/** Adds a flag for each setting, described with its environment variable and default. */
export function addSettingOptions(command: Command, keys: readonly SettingKey[]): Command {
  for (const key of keys) {
    const def = SETTINGS[key];
    const dflt = def.defaultValue === undefined ? '' : ` (default: ${def.defaultValue})`;
    command.option(def.flag, `${def.describe}; env ${def.env}${dflt}`);
  }
  return command;
}

/** Picks the setting flags out of commander's parsed options. */
export function settingFlags(opts: Record<string, unknown>, keys: readonly SettingKey[]): FlagValues {
  const flags: FlagValues = {};
  for (const key of keys) {
    const long = (SETTINGS[key].flag.split(' ')[0] as string).replace(/^--/, '');
    const prop = long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const value = opts[prop];
    if (value !== undefined) flags[key] = String(value);
  }
  return flags;
}

/** commander's error output as one line: `name: what went wrong (see --help)`. */
export function oneLineErrors(name: string): (line: string, write: (s: string) => void) => void {
  return (line, write) => write(`${name}: ${line.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} (see --help)\n`);
}

/** Prints one line saying what went wrong and exits non-zero. */
export function fail(program: string, err: unknown): never {
  const message = err instanceof ConfigError ? `bad setting: ${err.message}` : (err as Error)?.message ?? String(err);
  process.stderr.write(`${program}: ${message}\n`);
  process.exit(1);
}

/**
 * The command line to parse. pm2's cluster mode starts workers with the argv of the pm2 process
 * itself (e.g. `pm2-runtime start pm2.config.js`), which is not ours: there, settings come from
 * the environment only.
 */
export function programArgv(argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.exec_mode === 'cluster_mode' && env.pm_exec_path) return [argv[0] as string, env.pm_exec_path];
  return [...argv];
}

/** How long a stop may take past DRAIN_TIMEOUT_MS to say goodbye to Redis before the process exits regardless. */
export const STOP_GRACE_MS = 5000;

/** A long-running program: started once, stopped once on SIGTERM/SIGINT. */
export interface Service {
  start(): Promise<unknown>;
  /** Drains; resolves when the process may exit. */
  stop(): Promise<unknown>;
}

export interface ServiceProgram {
  /** Command name, e.g. `chat-push-server`. */
  name: string;
  description: string;
  settings: readonly SettingKey[];
  /** Role in the default SERVER_ID and the log's `service`. */
  role: string;
  service: string;
  /** Log field of the process id: `serverId` or `workerId`. */
  idField: string;
  build(config: Config, logger: Logger): Service;
}

/**
 * The whole `main` of a service: flags from the settings table, config, logger, the service,
 * signal handling (drain once, then exit), and one-line fatal errors.
 */
export function runService(p: ServiceProgram): void {
  const program = addSettingOptions(new Command(p.name).description(p.description), p.settings)
    .configureOutput({ outputError: oneLineErrors(p.name) });
  program.parse(programArgv());
  const main = async (): Promise<void> => {
    const config = loadConfig({ flags: settingFlags(program.opts(), p.settings), role: p.role });
    const logger = createLogger({ level: config.logLevel, service: p.service, ids: { [p.idField]: config.serverId } });
    const service = p.build(config, logger);
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info('stopping', { signal });
      // Redis may not answer (a black-holed network): the stop itself is bounded too.
      const limitMs = config.drainTimeoutMs + STOP_GRACE_MS;
      setTimeout(() => {
        logger.error(`did not stop within ${limitMs} ms (DRAIN_TIMEOUT_MS + ${STOP_GRACE_MS}): exiting anyway; unfinished jobs are re-run by another worker`);
        process.exit(1);
      }, limitMs).unref();
      service.stop().then(() => process.exit(0), (err: Error) => {
        logger.error('shutdown failed', { error: err.message });
        process.exit(1);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    await service.start();
  };
  main().catch((err) => fail(p.name, err));
}
