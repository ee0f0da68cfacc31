/** Structured JSON logs (pino). One root logger per process; requests get a child with their id. */
import pino from 'pino';
import { config } from './config';

export const logger = pino({
  level: config.logLevel,
  base: { pid: process.pid, service: process.env.SPIRIT_SERVICE || 'spirit' },
  timestamp: pino.stdTimeFunctions.isoTime,
  redact: ['req.headers.authorization', 'password', '*.password', 'refreshToken', 'accessToken'],
});

export type Logger = pino.Logger;
