import { z } from 'zod';
import { flowDescriptorSchema } from '../core/flow/model.ts';
import { raw } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

/** What a descriptor author writes: the schema's input side (defaults make fields optional). */
const document = JSON.stringify(
  z.toJSONSchema(flowDescriptorSchema, { io: 'input', unrepresentable: 'any', cycles: 'ref' }),
);

export const handler = routeHandler(routeById('getFlowSchema'), async () =>
  raw(document, 'application/schema+json'),
);
