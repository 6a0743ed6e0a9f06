/**
 * Loads the Lua scripts in `shared/lua/` and registers them on ioredis clients.
 *
 * A script file is named `<name>-<numberOfKeys>.lua`, or `<name>-n.lua` for a script that takes
 * any number of keys; a line `--- @include "x"` is replaced by `lua/includes/x.lua`. ioredis sends
 * EVALSHA and falls back to EVAL when Redis lost the script.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;

const LUA_DIR = fileURLToPath(new URL('../lua/', import.meta.url));

export interface ScriptDef {
  /** ioredis command name, e.g. `chatPersistMessages` for `persist-messages-4.lua`. */
  command: string;
  /** undefined: any number (the call says how many). */
  numberOfKeys: number | undefined;
  lua: string;
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function expandIncludes(source: string, seen: Set<string> = new Set()): string {
  return source.replace(/^--- @include "([a-z0-9-]+)"$/gm, (_, include: string) => {
    if (seen.has(include)) return '';
    seen.add(include);
    return expandIncludes(readFileSync(`${LUA_DIR}includes/${include}.lua`, 'utf8'), seen);
  });
}

let cached: ScriptDef[] | undefined;

/** All scripts, read once per process. */
export function loadScripts(): ScriptDef[] {
  if (cached) return cached;
  cached = readdirSync(LUA_DIR)
    .filter((f) => f.endsWith('.lua'))
    .map((file) => {
      const match = /^(.+)-(\d+|n)\.lua$/.exec(file);
      if (!match) throw new Error(`Lua script ${file} must be named <name>-<numberOfKeys>.lua or <name>-n.lua`);
      return {
        command: camel(`chat-${match[1]}`),
        numberOfKeys: match[2] === 'n' ? undefined : Number(match[2]),
        lua: expandIncludes(readFileSync(`${LUA_DIR}${file}`, 'utf8')),
      };
    });
  return cached;
}

let variadicCommands: Set<string> | undefined;

/** The command names of `<name>-n.lua` scripts (their calls say how many keys they pass). */
export function variadicScriptCommands(): string[] {
  return [...variadic()];
}

function variadic(): Set<string> {
  variadicCommands ??= new Set(loadScripts().filter((s) => s.numberOfKeys === undefined).map((s) => s.command));
  return variadicCommands;
}

const registered = new WeakSet<object>();

/** Registers every script as a command on the client (once per client). */
export function registerScripts(client: RedisClient): void {
  if (registered.has(client)) return;
  for (const s of loadScripts()) client.defineCommand(s.command, s.numberOfKeys === undefined ? { lua: s.lua } : { numberOfKeys: s.numberOfKeys, lua: s.lua });
  registered.add(client);
}

/** Calls a registered script by command name. */
export function callScript<T>(client: RedisClient, command: string, keys: string[], args: (string | number)[]): Promise<T> {
  registerScripts(client);
  const fn = (client as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[command];
  if (typeof fn !== 'function') throw new Error(`unknown Lua script command ${command}`);
  return variadic().has(command) ? fn.call(client, keys.length, ...keys, ...args) : fn.call(client, ...keys, ...args);
}
