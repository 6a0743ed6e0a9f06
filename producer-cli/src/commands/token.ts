import type { Command } from 'commander';
import { addSettingOptions, isValidUser, loadConfig, mintToken, settingFlags } from '@chat/shared';
import { intOption, out } from '../context.js';

export function tokenCommand(program: Command): void {
  addSettingOptions(program.command('token'), ['authSecret'])
    .description('mint an HS256 token for a user, signed with AUTH_SECRET (for testing and tools)')
    .requiredOption('--user <name>', 'the user name (the token\'s sub)')
    .option('--ttl <seconds>', 'lifetime in seconds', '3600')
    .option('--channels <patterns>', 'comma list of channel patterns the user may join and write to (name, prefix*, *); "" grants none')
    .option('--channels-read <patterns>', 'comma list of channel patterns the user may join and only read')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: Record<string, string>) => {
      if (!isValidUser(opts.user)) throw new Error('--user must be 1-64 characters without control characters');
      const ttl = intOption(opts.ttl, '--ttl', 1, 10 * 365 * 86400);
      const config = loadConfig({ flags: settingFlags(opts, ['authSecret']), role: 'producer' });
      if (!config.authSecret) throw new Error('no secret: set AUTH_SECRET or pass --auth-secret');
      const channels = patterns(opts.channels, '--channels');
      const channelsRead = patterns(opts.channelsRead, '--channels-read');
      const token = await mintToken(opts.user as string, config.authSecret, ttl, {
        ...(channels ? { channels } : {}), ...(channelsRead ? { channelsRead } : {}),
      });
      out(opts.json ? JSON.stringify({ token, user: opts.user, expiresIn: ttl, channels, channelsRead }) : token);
    });
}

/** A comma list of channel patterns: a channel name, a name prefix followed by `*`, or `*`. */
function patterns(value: string | undefined, flag: string): string[] | undefined {
  if (value === undefined) return undefined;
  const list = value.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of list) {
    const name = p.endsWith('*') ? p.slice(0, -1) : p;
    if (name.length > 64 || !/^[A-Za-z0-9_.:-]*$/.test(name) || (name === '' && p !== '*')) {
      throw new Error(`${flag} "${p}" is not a channel pattern: a channel name, a prefix followed by *, or *`);
    }
  }
  return list;
}
