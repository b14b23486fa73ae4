import { z } from 'zod';

const checkState = z.enum(['ok', 'unavailable']);

export const healthStatus = z
  .object({
    status: checkState,
    checks: z.object({ metadata: checkState, blobs: checkState }),
  })
  .meta({ id: 'HealthStatus', description: 'Readiness of every store Sluice writes to' });

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
