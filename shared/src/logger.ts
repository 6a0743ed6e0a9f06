/**
 * winston logging: JSON lines when stdout is not a terminal (pm2, containers, tests), readable
 * lines on a terminal. Every line carries the process's role and id.
 */
import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level: string;
  /** `push-server`, `worker` or `producer`. */
  service: string;
  /** The process's id, e.g. the push server's SERVER_ID. */
  id?: string;
  /** Force JSON (true) or readable (false) output; default: JSON unless stdout is a TTY. */
  json?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const json = options.json ?? !process.stdout.isTTY;
  const format = json
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        winston.format.colorize(),
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.printf(({ level, message, timestamp, service, id, ...rest }) => {
          const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
          return `${String(timestamp)} ${level} [${String(service)}${id ? ` ${String(id)}` : ''}] ${String(message)}${extra}`;
        }),
      );
  return winston.createLogger({
    level: options.level,
    format,
    defaultMeta: options.id ? { service: options.service, id: options.id } : { service: options.service },
    transports: [new winston.transports.Console()],
  });
}
