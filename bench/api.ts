import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import autocannon from 'autocannon';
import { report } from './report.ts';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });

async function waitUntilHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(url).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} not healthy after ${timeoutMs} ms`);
}

/**
 * Local API throughput: `npm start`'s server (in memory) in its own process,
 * loaded by autocannon from this one, 64 connections on GET /health.
 */
export async function benchApi(durationSeconds: number): Promise<void> {
  const port = await freePort();
  const server = spawn(process.execPath, ['dev-server/main.ts', '--in-memory'], {
    env: {
      ...process.env,
      PORT: String(port),
      S3_PORT: '0',
      DYNAMODB_PORT: '0',
      POWERTOOLS_LOG_LEVEL: 'WARN',
      POWERTOOLS_DEV: 'false',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Keep the server's complaints for a failure report instead of mixing them into the figures.
  let stderr = '';
  server.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  try {
    const url = `http://127.0.0.1:${port}/health`;
    await waitUntilHealthy(url, 30_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${stderr}`);
    });
    await autocannon({ url, connections: 64, duration: 2 }); // warm-up: JIT and connection pools
    const result = await autocannon({ url, connections: 64, duration: durationSeconds });
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`health benchmark saw ${result.non2xx} non-2xx responses and ${result.errors} errors`);
    }
    report({ metric: 'api_rps_health', value: result.requests.average, unit: 'req/s' });
    report({ metric: 'api_p99_ms_health', value: result.latency.p99, unit: 'ms' });
  } finally {
    server.kill('SIGTERM');
  }
}
