import { dependencies } from '../composition/dependencies.ts';
import { parseBody } from '../http/request.ts';
import { ok } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';
import { createDirectoryBody } from '../schemas/enos.ts';

export const handler = routeHandler(routeById('enosDirectoriesPost'), async ({ query, body }) =>
  ok(
    await dependencies().enos.createDirectory(
      { userId: query.userId, orgId: query.orgId },
      parseBody(createDirectoryBody, body),
    ),
  ),
);
