import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { dependencies } from '../composition/dependencies.ts';
import { logger } from '../http/logger.ts';
import type { ExecutionOutcome } from '../ports/orchestrator.ts';

/** EventBridge's "Step Functions Execution Status Change" event, as far as Sluice reads it. */
const statusChange = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']),
    input: z.string().nullish(),
    /** Which run of the execution ended: 0, then one more per redrive. */
    redriveCount: z.number().int().min(0).optional(),
    error: z.string().nullish(),
    cause: z.string().nullish(),
  }),
});

const executionInput = z.object({ executionId: z.string().min(1) });

const outcomeOf = (detail: z.output<typeof statusChange>['detail']): ExecutionOutcome | undefined => {
  const reason = {
    ...(detail.error ? { error: detail.error } : {}),
    ...(detail.cause ? { cause: detail.cause } : {}),
  };
  switch (detail.status) {
    case 'SUCCEEDED':
      return { status: 'SUCCEEDED' };
    case 'FAILED':
      return { status: 'FAILED', ...reason };
    case 'TIMED_OUT':
      return { status: 'FAILED', error: 'States.Timeout', cause: detail.cause ?? 'the execution timed out' };
    case 'ABORTED':
      return { status: 'STOPPED', ...reason };
    default:
      return undefined;
  }
};

/** Records how a Step Functions execution ended (the local orchestrator reports this in-process). */
export const handler = middy<unknown, void, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    const { detail } = statusChange.parse(event);
    const outcome = outcomeOf(detail);
    if (!outcome) return;
    const { executionId } = executionInput.parse(JSON.parse(detail.input ?? '{}'));
    logger.appendKeys({ executionId });
    await dependencies().engine.executions.ended(executionId, outcome, detail.redriveCount);
  });
