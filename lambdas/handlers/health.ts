import { dependencies } from '../composition/dependencies.ts';
import { checkHealth } from '../core/health.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

export const handler = routeHandler(routeById('getHealth'), async () => {
  const report = await checkHealth(dependencies());
  return ok(report, report.status === 'ok' ? 200 : 503);
});
