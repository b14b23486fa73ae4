import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { dependencies } from '../composition/dependencies.ts';
import type { TaskAction } from '../core/engine/task-actions.ts';
import { logger } from '../http/logger.ts';

const addressed = {
  executionId: z.string().min(1),
  task: z.string().min(1),
  scope: z.string().min(1).optional(),
};

/** The payloads generated state machines send (task-actions.ts), checked at the edge. */
export const taskActionSchema = z.discriminatedUnion('action', [
  z.object({ ...addressed, action: z.literal('await'), token: z.string().min(1) }),
  z.object({
    ...addressed,
    action: z.literal('run'),
    attempt: z.number().int().min(0),
    skip: z.boolean().optional(),
  }),
  z.object({
    ...addressed,
    action: z.literal('start-async'),
    attempt: z.number().int().min(0),
    token: z.string().min(1),
  }),
  z.object({
    ...addressed,
    action: z.literal('complete'),
    result: z.unknown().optional(),
    failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
  }),
]) satisfies z.ZodType<TaskAction>;

/**
 * The task runner function: every Task state of every generated state
 * machine invokes it. Errors keep their names (Sluice.TaskFailed…), which is
 * what Step Functions' Retry matches and what a failed execution reports.
 */
export const handler = middy<unknown, unknown, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    const action = taskActionSchema.parse(event);
    logger.appendKeys({ executionId: action.executionId, task: action.task, action: action.action });
    return dependencies().engine.runner.handle(action);
  });
