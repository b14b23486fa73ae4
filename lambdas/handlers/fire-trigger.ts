import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { dependencies } from '../composition/dependencies.ts';
import { logger } from '../http/logger.ts';

/** What a cron trigger's schedule delivers (lambdas/ports/scheduler.ts), on AWS and locally. */
const scheduledFire = z.object({
  triggerId: z.string().min(1),
  scheduledTime: z.iso.datetime({ offset: true }),
});

/**
 * The entry point of cron triggers: EventBridge Scheduler invokes it on AWS,
 * the local scheduler calls it in-process. It starts one execution per
 * (trigger, scheduled time); a redelivery starts nothing new.
 */
export const handler = middy<unknown, { executionId?: string; skipped?: string }, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    const fire = scheduledFire.parse(event);
    logger.appendKeys({ triggerId: fire.triggerId, scheduledTime: fire.scheduledTime });
    const result = await dependencies().engine.triggers.fire(fire);
    if (result.skipped) logger.warn('Scheduled run skipped', { reason: result.skipped });
    else logger.info('Scheduled run started', { executionId: result.executionId });
    return result;
  });
