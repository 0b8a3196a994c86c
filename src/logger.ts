import pino from 'pino';

/** Structured JSON logs on stdout. Activities and workflows log through Temporal's `log` instead. */
export function createLogger(level: string, name = 'crowdfund'): pino.Logger {
  return pino({ name, level, base: { service: name }, redact: ['req.headers.authorization', '*.password'] });
}

export type Logger = pino.Logger;
