/**
 * winston logging with a stable field set. When stdout is not a terminal (pm2, containers, tests)
 * every line is one JSON object: `time`, `level`, `msg`, `service`, the process id field
 * (`serverId` for push servers, `workerId` for workers), then the line's own fields (e.g.
 * `connectionId`). On a terminal the same lines are readable text.
 */
import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level: string;
  /** `push-server`, `worker` or `producer`. */
  service: string;
  /** The process's id and the field it goes in, e.g. `{ serverId: 'host-push-123' }`. */
  ids?: Record<string, string>;
  /** Force JSON (true) or readable (false) output; default: JSON unless stdout is a TTY. */
  json?: boolean;
}

const FIXED = new Set(['level', 'message', 'timestamp', 'service']);

export function createLogger(options: LoggerOptions): Logger {
  const json = options.json ?? !process.stdout.isTTY;
  const ids = options.ids ?? {};
  const format = json
    ? winston.format.combine(
        winston.format.timestamp(),
        winston.format.printf((info) => {
          const line: Record<string, unknown> = { time: info.timestamp, level: info.level, msg: info.message, service: info.service };
          for (const [k, v] of Object.entries(info)) if (!FIXED.has(k)) line[k] = v;
          return JSON.stringify(line);
        }),
      )
    : winston.format.combine(
        winston.format.colorize(),
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.printf((info) => {
          const rest: Record<string, unknown> = {};
          for (const [k, v] of Object.entries(info)) if (!FIXED.has(k) && !(k in ids)) rest[k] = v;
          const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
          const who = Object.values(ids)[0];
          return `${String(info.timestamp)} ${info.level} [${String(info.service)}${who ? ` ${who}` : ''}] ${String(info.message)}${extra}`;
        }),
      );
  return winston.createLogger({
    level: options.level,
    format,
    defaultMeta: { service: options.service, ...ids },
    transports: [new winston.transports.Console()],
  });
}
