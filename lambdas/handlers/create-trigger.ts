import { dependencies } from '../composition/dependencies.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { tenantOf } from '../http/tenant.ts';
import { triggerBody } from '../http/views.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('createTrigger'), async ({ path, body, headers }) => {
  const { engine, blobs } = dependencies();
  const common = {
    tenant: tenantOf(headers),
    flowId: path.flowId,
    context: body.parameters,
    enabled: body.enabled,
  };
  const trigger =
    body.type === 'cron'
      ? await engine.triggers.create({
          ...common,
          type: 'cron',
          cron: {
            expression: body.schedule,
            ...(body.timezone ? { timezone: body.timezone } : {}),
            ...(body.start ? { start: body.start } : {}),
            ...(body.end ? { end: body.end } : {}),
          },
        })
      : await engine.triggers.create({
          ...common,
          type: 's3',
          s3: { prefix: body.prefix, ...(body.suffix ? { suffix: body.suffix } : {}) },
        });
  return ok(triggerBody(trigger, blobs.bucket), 201);
});
