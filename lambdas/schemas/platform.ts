import { z } from 'zod';

export const healthStatus = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    checks: z.record(z.string(), z.enum(['ok', 'unavailable'])).optional(),
  })
  .meta({ id: 'HealthStatus' });

export const nativeError = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
      requestId: z.string().optional(),
    }),
  })
  .meta({ id: 'NativeError' });

export const swaggerAssetPath = z.object({
  asset: z.string().optional().describe('File of the swagger-ui-dist package, e.g. swagger-ui.css'),
});
