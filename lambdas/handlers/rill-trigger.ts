import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

const trigger = (request: {
  query: {
    execution_id: string;
    task_name: string;
    status?: string | undefined;
    context?: Record<string, unknown> | undefined;
  };
  body?: Record<string, unknown> | undefined;
}) =>
  dependencies().rillFlow.finish({
    executionId: request.query.execution_id,
    taskName: request.query.task_name,
    body: {
      result_type: request.query.status ?? 'SUCCESS',
      response: { ...request.query.context, ...request.body },
    },
  });

export const handler = routeHandler(routeById('rillTrigger'), async (request) => ok(await trigger(request)));
