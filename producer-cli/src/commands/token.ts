import type { Command } from 'commander';
import { addSettingOptions, isValidUser, loadConfig, mintToken, settingFlags } from '@chat/shared';
import { intOption, out } from '../context.js';

export function tokenCommand(program: Command): void {
  addSettingOptions(program.command('token'), ['authSecret'])
    .description('mint an HS256 token for a user, signed with AUTH_SECRET (for testing and tools)')
    .requiredOption('--user <name>', 'the user name (the token\'s sub)')
    .option('--ttl <seconds>', 'lifetime in seconds', '3600')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: Record<string, string>) => {
      if (!isValidUser(opts.user)) throw new Error('--user must be 1-64 characters without control characters');
      const ttl = intOption(opts.ttl, '--ttl', 1, 10 * 365 * 86400);
      const config = loadConfig({ flags: settingFlags(opts, ['authSecret']), role: 'producer' });
      if (!config.authSecret) throw new Error('no secret: set AUTH_SECRET or pass --auth-secret');
      const token = await mintToken(opts.user as string, config.authSecret, ttl);
      out(opts.json ? JSON.stringify({ token, user: opts.user, expiresIn: ttl }) : token);
    });
}
