import type { Context } from 'aws-lambda';

/** A Lambda handler as the local runtime calls it. */
export type LambdaHandler<E = unknown, R = unknown> = (event: E, context: Context) => Promise<R>;

/** The Lambda context a locally invoked handler gets; `timeoutMs` as the function's timeout. */
export function lambdaContext(functionName: string, requestId: string, timeoutMs = 29_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

const modules = new Map<string, Promise<LambdaHandler>>();

/** Imports a handler module exactly as Lambda loads its bundle: once, on first use. */
export function loadFunction<E, R>(module: string): Promise<LambdaHandler<E, R>> {
  let loaded = modules.get(module);
  if (!loaded) {
    loaded = import(new URL(`../lambdas/handlers/${module}.ts`, import.meta.url).href).then(
      (exports: { handler: LambdaHandler }) => exports.handler,
    );
    modules.set(module, loaded);
  }
  return loaded as Promise<LambdaHandler<E, R>>;
}
