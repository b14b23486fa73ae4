import { readFileSync } from 'node:fs';

/** Polls `probe` until it returns a value (not undefined), or fails naming `what`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The seed's Rill Flow example descriptor, its executors pointed at `origin` instead of 127.0.0.1:8080. */
export const rillSeedDescriptor = (origin: string) =>
  readFileSync(new URL('../fixtures/rill-seed-example.yaml', import.meta.url), 'utf8').replaceAll(
    'http://127.0.0.1:8080',
    origin,
  );
