/**
 * Command-line plumbing shared by the three programs: one flag per setting, generated from the
 * settings table, and one-line fatal errors.
 */
import type { Command } from 'commander';
import { ConfigError, SETTINGS, type FlagValues, type SettingKey } from './config.js';

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
