import { z } from 'zod';
import { envelopes } from './dialects/index.ts';
import { pathsOf, type RouteDefinition } from './route.ts';

type JsonSchema = Record<string, unknown>;

const componentRef = (id: string) => `#/components/schemas/${id}`;

/** A schema as OpenAPI 3.1 JSON Schema: a $ref when the schema is a named component. */
function schemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const id = z.globalRegistry.get(schema)?.id;
  if (id) return { $ref: componentRef(id) };
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function parametersOf(route: RouteDefinition): JsonSchema[] {
  const parameters: JsonSchema[] = [];
  for (const [location, object] of [
    ['path', route.request?.path],
    ['query', route.request?.query],
  ] as const) {
    for (const [name, field] of Object.entries(object?.shape ?? {})) {
      const schema = field as z.ZodType;
      parameters.push({
        name,
        in: location,
        required: location === 'path' || !schema.safeParse(undefined).success,
        schema: schemaOf(schema, 'input'),
        ...(schema.description ? { description: schema.description } : {}),
      });
    }
  }
  return parameters;
}

function operationOf(route: RouteDefinition, operationId: string): JsonSchema {
  const envelope = envelopes[route.dialect];
  const responses = Object.fromEntries(
    Object.entries(route.responses).map(([status, spec]) => {
      const mediaType = spec.mediaType ?? 'application/json';
      const payload = spec.schema ? schemaOf(spec.schema, 'output') : {};
      const isError = Number(status) >= 400;
      const schema =
        mediaType === 'application/json' && !isError ? envelope.documentSuccess(payload) : payload;
      return [status, { description: spec.description, content: { [mediaType]: { schema } } }];
    }),
  );
  const body = route.request?.body;
  return {
    operationId,
    summary: route.summary,
    tags: [...(route.tags ?? [route.dialect])],
    parameters: parametersOf(route),
    ...(body
      ? {
          requestBody: {
            required: !body.safeParse(undefined).success,
            content: {
              [route.request?.bodyMediaType ?? 'application/json']: { schema: schemaOf(body, 'input') },
            },
          },
        }
      : {}),
    responses,
  };
}

/** The OpenAPI 3.1 document of a route table; aliases become their own operations. */
export function buildOpenApiDocument(routes: readonly RouteDefinition[], version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    pathsOf(route).forEach((path, index) => {
      const operationId = index === 0 ? route.id : `${route.id}Alias${index}`;
      paths[path] = { ...paths[path], [route.method.toLowerCase()]: operationOf(route, operationId) };
    });
  }
  const { schemas } = z.toJSONSchema(z.globalRegistry, { uri: componentRef, unrepresentable: 'any' }) as {
    schemas: Record<string, JsonSchema>;
  };
  const components = Object.fromEntries(
    Object.entries(schemas).map(([id, { $schema: _dialect, $id: _id, ...schema }]) => [id, schema]),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sluice',
      version,
      description:
        'Serverless data-flow orchestrator. One server speaks five flow-API dialects and the native /v1 API.',
    },
    paths,
    components: { schemas: components },
  };
}
