import pino from "pino";

export type Logger = pino.Logger;

/** The (message, fields) shape that the service and convert call; every line goes through pino. */
export type LogFn = (message: string, fields?: Record<string, unknown>) => void;

/** JSON lines on stdout: ISO time, level name, `message` (what log stacks index), then fields. */
export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination({ fd: 1, sync: true }),
): Logger {
  return pino(
    {
      level,
      messageKey: "message",
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

export const logFn =
  (logger: Logger): LogFn =>
  (message, fields = {}) =>
    logger.info(fields, message);
