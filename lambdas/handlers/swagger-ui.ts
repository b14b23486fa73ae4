import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { notFound } from '../core/errors.ts';
import { raw } from '../http/results.ts';
import { routeHandler } from '../http/route-handler.ts';
import { routeById } from '../routes.ts';

/**
 * Swagger UI needs no CDN: its assets come from the swagger-ui-dist package,
 * which the CDK bundling copies next to the Lambda bundle (`./swagger-ui`).
 */
function assetDirectory(): string {
  const bundled = join(dirname(fileURLToPath(import.meta.url)), 'swagger-ui');
  if (existsSync(bundled)) return bundled;
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

const contentTypes: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Sluice API</title>
  <link rel="stylesheet" href="/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/swagger-ui/swagger-ui-standalone-preset.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: '/openapi.json',
      dom_id: '#swagger-ui',
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: 'StandaloneLayout',
    });
  </script>
</body>
</html>`;

/** The only files served; anything else under /swagger-ui/ is a 404. */
export const swaggerAssets = ['swagger-ui.css', 'swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js'];

const cache = new Map<string, Uint8Array>();

export const handler = routeHandler(routeById('getSwaggerUi'), async ({ path }) => {
  const asset = path?.asset;
  if (!asset) return raw(page, 'text/html; charset=utf-8');
  if (!swaggerAssets.includes(asset)) throw notFound(`No Swagger UI asset named ${asset}`);
  let body = cache.get(asset);
  if (!body) {
    body = await readFile(join(assetDirectory(), asset)).catch(() => {
      throw notFound(`Swagger UI asset ${asset} is not installed`);
    });
    cache.set(asset, body);
  }
  const extension = asset.slice(asset.lastIndexOf('.'));
  return raw(body, contentTypes[extension] ?? 'application/octet-stream', {
    headers: { 'cache-control': 'public, max-age=86400' },
  });
});
