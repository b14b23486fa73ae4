import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one logger of a Sluice process: structured JSON in Lambda, indented
 * when POWERTOOLS_DEV is set (the local runtime sets it).
 */
export const logger = new Logger({ serviceName: 'sluice' });

/** Logs an unexpected fault with its stack (never sent to the client). */
export function logFault(message: string, fault: unknown): void {
  if (fault instanceof Error) logger.error(message, fault);
  else logger.error(message, { fault: String(fault) });
}
