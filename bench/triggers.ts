import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startLocalRuntime } from '../dev-server/runtime.ts';
import { ephemeralSettings } from '../dev-server/settings.ts';
import { standInCredentials } from '../dev-server/stand-ins.ts';
import { logger } from '../lambdas/http/logger.ts';
import { percentile, report, round } from './report.ts';

type Json = Record<string, unknown>;

/**
 * Trigger-to-start latency on the local runtime (in memory): for cron, from
 * the scheduled instant to the execution's recorded start, with `triggers`
 * schedules due at the same instant; for uploads, from sending PutObject
 * (the upload itself included) to the execution's recorded start, one at a time.
 */
export async function benchTriggers(triggers = 10, uploads = 20): Promise<void> {
  // The runtime runs in this process: its request logs would interleave with the figures.
  logger.setLogLevel('SILENT');
  const runtime = await startLocalRuntime(ephemeralSettings());
  const api = async (method: string, path: string, body?: unknown): Promise<Json> => {
    const response = await fetch(`${runtime.apiUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return (await response.json()) as Json;
  };
  const executions = async (flowId: string) =>
    ((await api('GET', `/v1/executions?flowId=${flowId}&limit=1000`)).items as Json[]) ?? [];
  const waitFor = async (flowId: string, count: number) => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const found = await executions(flowId);
      if (found.length >= count) return found;
      if (Date.now() > deadline) throw new Error(`only ${found.length} of ${count} executions started`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  try {
    const flow = await api('POST', '/v1/flows', {
      name: 'bench-triggers',
      tasks: [{ name: 'only', kind: 'pass' }],
    });
    const flowId = String(flow.id);

    // Cron: every schedule due 3 s from now (rate() runs are anchored on `start`).
    const due = Math.ceil((Date.now() + 3_000) / 1000) * 1000;
    const start = new Date(due - 60_000).toISOString();
    for (let i = 0; i < triggers; i += 1) {
      await api('POST', `/v1/flows/${flowId}/triggers`, { type: 'cron', schedule: 'rate(1 minute)', start });
    }
    const fired = await waitFor(flowId, triggers);
    const cronLatencies = fired
      .map(
        (execution) =>
          Date.parse(String(execution.startedAt)) - Date.parse(String((execution.trigger as Json).firedFor)),
      )
      .sort((a, b) => a - b);
    report({ metric: 'trigger_cron_start_ms_p50', value: round(percentile(cronLatencies, 50)), unit: 'ms' });
    report({
      metric: 'trigger_cron_start_ms_max',
      value: round(cronLatencies.at(-1) ?? Number.NaN),
      unit: 'ms',
      target: `< 5000 (issue #6: "within a few seconds"), ${triggers} schedules due at once`,
    });

    // Uploads: one S3 trigger, objects put one after another.
    const upload = await api('POST', '/v1/flows', {
      name: 'bench-uploads',
      tasks: [{ name: 'only', kind: 'pass' }],
    });
    const uploadFlow = String(upload.id);
    await api('POST', `/v1/flows/${uploadFlow}/triggers`, { type: 's3', prefix: 'bench/' });
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: runtime.s3Endpoint,
      forcePathStyle: true,
      credentials: standInCredentials,
    });
    const uploadLatencies: number[] = [];
    try {
      for (let i = 0; i < uploads; i += 1) {
        const putAt = Date.now();
        await s3.send(new PutObjectCommand({ Bucket: 'sluice-files', Key: `bench/${i}.json`, Body: '{}' }));
        const started = await waitFor(uploadFlow, i + 1);
        const newest = started.find(
          (execution) => (execution.trigger as Json).firedFor === `s3://sluice-files/bench/${i}.json`,
        );
        uploadLatencies.push(Date.parse(String(newest?.startedAt)) - putAt);
      }
    } finally {
      s3.destroy();
    }
    uploadLatencies.sort((a, b) => a - b);
    report({
      metric: 'trigger_upload_start_ms_p50',
      value: round(percentile(uploadLatencies, 50)),
      unit: 'ms',
    });
    report({
      metric: 'trigger_upload_start_ms_max',
      value: round(uploadLatencies.at(-1) ?? Number.NaN),
      unit: 'ms',
    });
  } finally {
    await runtime.stop();
  }
}
