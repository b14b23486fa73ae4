import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { dependencies } from '../composition/dependencies.ts';
import {
  executionIdOf,
  type RunnerRequest,
  type StatePayload,
  stateNameOf,
  type TaskAction,
} from '../core/engine/task-actions.ts';
import { logger } from '../http/logger.ts';

const addressed = {
  executionId: z.string().min(1),
  task: z.string().min(1),
  scope: z.string().min(1).optional(),
};

/** Explicit actions (definitions compiled before state payloads; task-actions.ts). */
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

/** The part of the context object (`$$`) the runner reads; the rest is dropped. */
const stateContextSchema = z.object({
  Execution: z.object({ Name: z.string().min(1), RedriveCount: z.number().int().min(0).optional() }),
  State: z.object({ Name: z.string().min(1), RetryCount: z.number().int().min(0) }),
  Task: z.object({ Token: z.string().optional() }).optional(),
});

/** What generated state machines send (task-actions.ts): `$$` alone or as `c` next to the state's input. */
export const statePayloadSchema = z.union([
  stateContextSchema,
  z.object({
    c: stateContextSchema,
    g: z.object({ skip: z.boolean() }).optional(),
    r: z.unknown().optional(),
    scope: z.string().min(1).optional(),
    failure: z.object({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
  }),
]) satisfies z.ZodType<StatePayload>;

/** Every payload the runner accepts, checked at the edge; the runner reads it against the flow. */
export const runnerRequestSchema = z.union([
  taskActionSchema,
  statePayloadSchema,
]) satisfies z.ZodType<RunnerRequest>;

/**
 * The task runner function: every Task state of every generated state
 * machine invokes it. Errors keep their names (Sluice.TaskFailed…), which is
 * what Step Functions' Retry matches and what a failed execution reports.
 */
export const handler = middy<unknown, unknown, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    const request = runnerRequestSchema.parse(event);
    const state = stateNameOf(request);
    logger.appendKeys({
      executionId: executionIdOf(request),
      ...(state === undefined
        ? { task: (request as TaskAction).task, action: (request as TaskAction).action }
        : { state }),
    });
    return dependencies().engine.runner.handle(request);
  });
