import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('rillFinish'), async ({ query, body }) =>
  ok(
    await dependencies().rillFlow.finish({
      executionId: (query.executionId ?? query.execution_id) as string,
      taskName: (query.taskName ?? query.task_name) as string,
      body,
    }),
  ),
);
