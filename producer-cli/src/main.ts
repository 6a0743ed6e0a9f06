/**
 * chat-producer: the operators' CLI. Each command lives in commands/; this file only wires them.
 */
import { Command } from 'commander';
import { fail, oneLineErrors } from '@chat/shared';
import { failedCommand } from './commands/failed.js';
import { historyCommand } from './commands/history.js';
import { loadCommand } from './commands/load.js';
import { sendCommand } from './commands/send.js';
import { statsCommand } from './commands/stats.js';
import { tokenCommand } from './commands/token.js';
import { watchCommand } from './commands/watch.js';
import { webhooksCommand } from './commands/webhooks.js';

const program = new Command('chat-producer')
  .description('Inject messages and load into the chat pipeline, and read its state.')
  .configureOutput({ outputError: oneLineErrors('chat-producer') });

for (const add of [sendCommand, loadCommand, historyCommand, statsCommand, watchCommand, failedCommand, webhooksCommand, tokenCommand]) add(program);

program.parseAsync().catch((err) => fail('chat-producer', err));
