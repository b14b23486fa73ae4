import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { type LocalRuntime, startLocalRuntime } from '../../dev-server/runtime.ts';
import { ephemeralSettings } from '../../dev-server/settings.ts';
import { pathsOf, type RouteDefinition } from '../../lambdas/http/route.ts';
import { routes } from '../../lambdas/routes.ts';

/** Debian's Chromium, installed by scripts/setup.sh; the closed network needs the background traffic off. */
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('Swagger UI in a real browser', () => {
  let runtime: LocalRuntime;
  let browser: Browser;

  before(async () => {
    runtime = await startLocalRuntime(ephemeralSettings());
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs });
  });
  after(async () => {
    await browser?.close();
    await runtime?.stop();
  });

  it('renders every operation of /openapi.json and runs GET /health from the page', async () => {
    const page = await browser.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (request) => failed.push(request.url()));
    page.on('pageerror', (error) => failed.push(error.message));
    await page.goto(`${runtime.apiUrl}/swagger-ui.html`);
    await page.waitForSelector('.opblock', { timeout: 15_000 });

    const rendered = await page.$$eval('.opblock-summary-path', (nodes) =>
      nodes.map((node) => node.getAttribute('data-path')),
    );
    const expected = (routes as readonly RouteDefinition[]).flatMap((route) => pathsOf(route));
    assert.deepEqual([...rendered].sort(), [...expected].sort());

    await page.click('#operations-platform-getHealth .opblock-summary');
    await page.click('#operations-platform-getHealth .try-out__btn');
    await page.click('#operations-platform-getHealth .execute');
    const liveStatus = '#operations-platform-getHealth .live-responses-table tbody .response-col_status';
    await page.waitForSelector(liveStatus, { timeout: 15_000 });
    assert.match((await page.textContent(liveStatus)) ?? '', /^\s*200/);
    if (process.env.SLUICE_SCREENSHOT)
      await page.screenshot({ path: process.env.SLUICE_SCREENSHOT, fullPage: true });
    assert.deepEqual(failed, []);
  });
});
