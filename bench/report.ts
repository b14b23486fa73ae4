/** One benchmark figure, printed as one JSON line so runs can be compared across versions. */
export interface Metric {
  metric: string;
  value: number;
  unit: string;
  /** What the figure is compared against, from the same run. */
  baseline?: number;
  target?: string;
}

export function report(metric: Metric): void {
  console.log(JSON.stringify(metric));
}

export const round = (value: number, digits = 2) => Number(value.toFixed(digits));

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}
