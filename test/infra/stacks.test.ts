/**
 * The CDK app as synthesized from the route table, without bundling (the
 * `aws:cdk:bundling-stacks` context is empty, so NodejsFunction skips esbuild).
 * `.ci/cfn-lint.sh` covers the bundled synthesis and cfn-lint.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { App, CfnResource, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { AttributeType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { tableDesign } from '../../lambdas/adapters/aws/table-design.ts';
import { configVariables } from '../../lambdas/config.ts';
import { swaggerAssets } from '../../lambdas/handlers/swagger-ui.ts';
import type { RouteDefinition } from '../../lambdas/http/route.ts';
import { routeKeysOf } from '../../lambdas/http/route.ts';
import { fallbackRoute, handlerModules, routes } from '../../lambdas/routes.ts';
import { accessLogFields } from '../../lib/api-stack.ts';
import { commandContainerName, logDeliveryActions } from '../../lib/engine-stack.ts';
import {
  bundledFiles,
  commandHooks,
  HandlerFunction,
  type SluiceFunction,
} from '../../lib/handler-function.ts';
import { orchestratorActions, scheduleActions, taskTokenActions } from '../../lib/orchestrator-access.ts';
import {
  cloudFormationResourceLimit,
  countResources,
  guardResourceBudget,
  resourceBudget,
} from '../../lib/resource-budget.ts';
import { mergeAccess, planStacks } from '../../lib/route-plan.ts';
import { defineSluice, optionsFromContext, type SluiceStacks } from '../../lib/sluice.ts';

const root = join(import.meta.dirname, '..', '..');
const cdkJson = JSON.parse(readFileSync(join(root, 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

/** The app as `cdk synth` builds it (same feature flags), minus bundling. */
function synthesize(
  plan = planStacks(),
  context: Record<string, unknown> = {},
): { app: App; stacks: SluiceStacks; all: Stack[] } {
  const app = new App({ context: { ...cdkJson.context, ...context, 'aws:cdk:bundling-stacks': [] } });
  const stacks = defineSluice(app, optionsFromContext(app), plan);
  app.synth();
  return { app, stacks, all: [stacks.storage, stacks.engine, stacks.api, ...stacks.dialects.values()] };
}

/** Context that turns command tasks (and so every ECS resource) on. */
const commandsOn = { 'sluice:enableCommandTasks': 'true' };

type Resources = Record<
  string,
  { Type: string; Properties?: Record<string, unknown> } & Record<string, unknown>
>;
const resourcesOf = (stack: Stack): Resources => Template.fromStack(stack).toJSON().Resources as Resources;

/** Every route function of the app with its handler module. */
function functionsOf(stacks: SluiceStacks): { module: string; handler: HandlerFunction; stack: Stack }[] {
  const found = [{ module: fallbackRoute.handler, handler: stacks.api.fallback, stack: stacks.api as Stack }];
  for (const stack of stacks.dialects.values()) {
    for (const [module, handler] of stack.handlers) found.push({ module, handler, stack });
  }
  return found;
}

/** The engine's own functions (not behind a route): task runner, execution events and the two trigger functions. */
function engineFunctionsOf(
  stacks: SluiceStacks,
): { module: string; handler: SluiceFunction; stack: Stack }[] {
  return [
    { module: 'task-runner', handler: stacks.engine.taskRunnerFunction, stack: stacks.engine },
    { module: 'execution-events', handler: stacks.engine.executionEvents, stack: stacks.engine },
    { module: 'fire-trigger', handler: stacks.engine.triggers.fireFunction, stack: stacks.engine },
    { module: 's3-upload', handler: stacks.engine.triggers.uploadFunction, stack: stacks.engine },
  ];
}

/** CDK's own deploy-time function that writes the files bucket's notification configuration. */
const isNotificationHandler = (logicalId: string) => logicalId.startsWith('BucketNotificationsHandler');

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** Every policy statement attached to the role (a role, or a SluiceFunction's role). */
function statementsOf(stack: Stack, role: Role | { role: Role }): Statement[] {
  const roleId = stack.getLogicalId(('role' in role ? role.role : role).node.defaultChild as CfnResource);
  const statements: Statement[] = [];
  for (const resource of Object.values(resourcesOf(stack))) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const props = resource.Properties as {
      Roles: { Ref: string }[];
      PolicyDocument: { Statement: Statement[] };
    };
    if (props.Roles.some((role) => role.Ref === roleId)) statements.push(...props.PolicyDocument.Statement);
  }
  return statements;
}

/** Actions of every policy statement attached to the function's role. */
function actionsOf(stack: Stack, handler: SluiceFunction): string[] {
  return statementsOf(stack, handler).flatMap((statement) => [statement.Action].flat());
}

/** Statement resources as text, with intrinsic functions rendered like `${AWS::Region}`/`${Logical.Arn}`. */
function resourceText(resource: unknown): string[] {
  const render = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const v = value as Record<string, unknown>;
    if (Array.isArray(v['Fn::Join'])) {
      const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(sep);
    }
    if (typeof v.Ref === 'string') return `\${${v.Ref}}`;
    if (Array.isArray(v['Fn::GetAtt'])) return `\${${(v['Fn::GetAtt'] as string[]).join('.')}}`;
    if (v['Fn::GetStackOutput'])
      return `\${output:${(v['Fn::GetStackOutput'] as { OutputName: string }).OutputName}}`;
    return JSON.stringify(value);
  };
  return [resource].flat().map(render);
}

/** A role's grants as `action → resources`, sorted: easy to compare with an exact expectation. */
function grantsOf(stack: Stack, role: Role | { role: Role }): Record<string, string[]> {
  const grants: Record<string, string[]> = {};
  for (const statement of statementsOf(stack, role)) {
    assert.equal(statement.Effect, 'Allow');
    for (const action of [statement.Action].flat()) {
      grants[action] = [...(grants[action] ?? []), ...resourceText(statement.Resource)].sort();
    }
  }
  return Object.fromEntries(Object.entries(grants).sort(([a], [b]) => a.localeCompare(b)));
}

/** Logical id of a construct's CloudFormation resource. */
const idOf = (stack: Stack, construct: IConstruct): string =>
  stack.getLogicalId(construct.node.defaultChild as CfnResource);

/** A function's environment variables as synthesized. */
function variablesOf(stack: Stack, fn: IConstruct): Record<string, unknown> {
  const props = resourcesOf(stack)[idOf(stack, fn)]?.Properties as
    | { Environment?: { Variables?: Record<string, unknown> } }
    | undefined;
  return props?.Environment?.Variables ?? {};
}

const region = '$' + '{AWS::Region}';
const account = '$' + '{AWS::AccountId}';
const arnOf = (service: string, resource: string) =>
  `arn:\${AWS::Partition}:${service}:${region}:${account}:${resource}`;
/** The CloudFormation form of an ARN of this stack's account and region. */
const cfnArn = (service: string, resource: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      `:${service}:`,
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:${resource}`,
    ],
  ],
});

/** What a weak cross-stack reference (Fn::GetStackOutput) to `producer` stands for there. */
function crossStackValue(producer: Stack, reference: unknown): unknown {
  const output = (reference as { 'Fn::GetStackOutput'?: { StackName: string; OutputName: string } })[
    'Fn::GetStackOutput'
  ];
  assert.ok(output, `a cross-stack reference: ${JSON.stringify(reference)}`);
  assert.equal(output.StackName, producer.stackName);
  const outputs = Template.fromStack(producer).toJSON().Outputs as Record<string, { Value: unknown }>;
  return outputs[output.OutputName]?.Value;
}

const sluiceStateMachines = arnOf('states', 'stateMachine:sluice-*');
const sluiceExecutions = arnOf('states', 'execution:sluice-*:*');

interface BucketResource {
  DeletionPolicy: string;
  Properties: {
    BucketEncryption: unknown;
    PublicAccessBlockConfiguration: unknown;
    VersioningConfiguration?: unknown;
    LoggingConfiguration?: { DestinationBucketName: unknown };
  };
}

const writeActions = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  's3:PutObject',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:AbortMultipartUpload',
];

/** cdk-nag's unacknowledged AwsSolutions findings in the stacks, as text. */
function nagFindings(app: App, stacks: Stack[]): string[] {
  return stacks.flatMap((stack) =>
    new AwsSolutionsChecks(app)
      .validateScope(stack)
      .violations.map(
        (v) =>
          `${stack.stackName}: ${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
      ),
  );
}

/** Every acknowledged rule id of the app with its reason. */
function acknowledgementsOf(app: App): Map<string, string> {
  const acknowledged = new Map<string, string>();
  for (const construct of app.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        acknowledged.set(id.replace(/^annotation::/i, ''), reason);
      }
    }
  }
  return acknowledged;
}

function assertNoAnnotations(stacks: Stack[]): void {
  for (const stack of stacks) {
    const annotations = Annotations.fromStack(stack);
    assert.deepEqual(annotations.findError('*', Match.anyValue()), [], stack.stackName);
    assert.deepEqual(annotations.findWarning('*', Match.anyValue()), [], stack.stackName);
  }
}

/** Acknowledged cdk-nag findings, each explained where it is acknowledged. */
const documentedAcknowledgements = [
  // Routes without authorizer: the five client APIs send no credentials.
  /^AwsSolutions-APIG4$/,
  // The table's indexes and the files bucket's objects.
  /^AwsSolutions-IAM5\[Resource::.+\/index\/\*\]$/,
  /^AwsSolutions-IAM5\[Resource::.+"OutputName":"PublishOutputFnGetAttFiles[0-9A-F]+Arn[0-9A-F]+"\}\}\/\*\]$/,
  // Task tokens (SendTask*) and Step Functions log delivery: actions without resource-level permissions.
  /^AwsSolutions-IAM5\[Resource::\*\]$/,
  // Sluice's state machines and executions (created at run time, named sluice-*).
  /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:sluice-\*\]$/,
  /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:sluice-\*:\*\]$/,
  // Functions of flows' lambda tasks (context sluice:lambdaTaskPrefix).
  /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:[A-Za-z0-9_-]+\*\]$/,
  // Command tasks: revisions of the one task definition family, tasks of the one cluster.
  /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition\/[A-Za-z0-9-]+-command:\*\]$/,
  /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task\/<CommandsCluster[0-9A-F]+>\/\*\]$/,
  // Cron triggers' schedules, created at run time in Sluice's one schedule group.
  /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule\/[A-Za-z0-9-]+-triggers\/\*\]$/,
  // The failed-events queue is itself the dead-letter destination.
  /^AwsSolutions-SQS3$/,
  // CDK's own deploy-time handler of the bucket notification (basic execution role, PutBucketNotification on *).
  /^AwsSolutions-IAM4\[Policy::arn:<AWS::Partition>:iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole\]$/,
  // aws-cdk-lib's own, not Sluice's: on a stack whose VPC reads stack.availabilityZones (literal
  // AZs expected), and on VPC flow logs (DestinationOptions in camelCase, which EC2 accepts).
  /^CloudFormation-Validate::(W3010|F3002|F3003)$/,
];

describe('Sluice CDK app', () => {
  let app: App;
  let stacks: SluiceStacks;
  let all: Stack[];
  before(() => {
    const started = performance.now();
    ({ app, stacks, all } = synthesize());
    console.log(
      `synthesized ${all.length} stacks (no bundling) in ${Math.round(performance.now() - started)} ms`,
    );
  });

  describe('storage', () => {
    it('has the single table of table-design.ts: keys, gsi1, on-demand, PITR, SSE, retained', () => {
      const template = Template.fromStack(stacks.storage);
      template.resourceCountIs('AWS::DynamoDB::Table', 1);
      template.hasResource('AWS::DynamoDB::Table', {
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: {
          KeySchema: [
            { AttributeName: tableDesign.partitionKey, KeyType: 'HASH' },
            { AttributeName: tableDesign.sortKey, KeyType: 'RANGE' },
          ],
          GlobalSecondaryIndexes: [
            {
              IndexName: tableDesign.collectionIndex.name,
              KeySchema: [
                { AttributeName: tableDesign.collectionIndex.partitionKey, KeyType: 'HASH' },
                { AttributeName: tableDesign.collectionIndex.sortKey, KeyType: 'RANGE' },
              ],
              Projection: { ProjectionType: 'ALL' },
            },
          ],
          AttributeDefinitions: Match.arrayWith([
            { AttributeName: tableDesign.partitionKey, AttributeType: 'S' },
            { AttributeName: tableDesign.collectionIndex.sortKey, AttributeType: 'S' },
          ]),
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          // AWS-managed key (aws/dynamodb): SSE enabled (KMS) without a customer key.
          SSESpecification: { SSEEnabled: true, KMSMasterKeyId: Match.absent() },
        },
      });
    });

    it('has an encrypted, private, versioned, TLS-only, access-logged files bucket, retained', () => {
      const template = Template.fromStack(stacks.storage);
      const filesId = stacks.storage.getLogicalId(stacks.storage.bucket.node.defaultChild as CfnResource);
      const logsId = stacks.storage.getLogicalId(
        stacks.storage.accessLogsBucket.node.defaultChild as CfnResource,
      );
      const buckets = template.findResources('AWS::S3::Bucket') as Record<string, BucketResource>;
      assert.deepEqual(Object.keys(buckets).sort(), [filesId, logsId].sort());
      for (const bucket of Object.values(buckets)) {
        assert.equal(bucket.DeletionPolicy, 'Retain');
        assert.deepEqual(bucket.Properties.BucketEncryption, {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        });
        assert.deepEqual(bucket.Properties.PublicAccessBlockConfiguration, {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        });
      }
      const files = buckets[filesId];
      assert.deepEqual(files?.Properties.VersioningConfiguration, { Status: 'Enabled' });
      assert.deepEqual(files?.Properties.LoggingConfiguration?.DestinationBucketName, { Ref: logsId });
      for (const bucketId of [filesId, logsId]) {
        template.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: bucketId },
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Action: 's3:*',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
              }),
            ]),
          },
        });
      }
    });

    it('outputs the table and bucket names', () => {
      const outputs = Template.fromStack(stacks.storage).toJSON().Outputs as Record<string, unknown>;
      assert.ok(outputs.TableName);
      assert.ok(outputs.BucketName);
    });
  });

  describe('HTTP API', () => {
    it('is an HTTP API without CORS whose $default stage auto-deploys, throttles and writes JSON access logs', () => {
      const template = Template.fromStack(stacks.api);
      template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
        ProtocolType: 'HTTP',
        CorsConfiguration: Match.absent(),
      });
      const stages = Object.values(template.findResources('AWS::ApiGatewayV2::Stage'));
      assert.equal(stages.length, 1);
      const props = stages[0]?.Properties as {
        StageName: string;
        AutoDeploy: boolean;
        DefaultRouteSettings: { ThrottlingRateLimit: number; ThrottlingBurstLimit: number };
        AccessLogSettings: { DestinationArn: unknown; Format: string };
      };
      assert.equal(props.StageName, '$default');
      assert.equal(props.AutoDeploy, true);
      assert.ok(props.DefaultRouteSettings.ThrottlingRateLimit > 0);
      assert.ok(props.DefaultRouteSettings.ThrottlingBurstLimit > 0);
      assert.ok(props.AccessLogSettings.DestinationArn);
      const format = JSON.parse(props.AccessLogSettings.Format) as Record<string, string>;
      for (const field of ['requestId', 'routeKey', 'status', 'responseLatency']) {
        assert.match(format[field] ?? '', /^\$context\./, field);
      }
      assert.deepEqual(format, { ...accessLogFields });
      template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: Match.anyValue() });
    });

    it('outputs the API URL', () => {
      const outputs = Template.fromStack(stacks.api).toJSON().Outputs as Record<string, unknown>;
      assert.ok(outputs.ApiUrl);
    });

    it('has a route for every route key of the route table, plus $default', () => {
      const expected = [
        ...routes.flatMap((route) => routeKeysOf(route as RouteDefinition)),
        '$default',
      ].sort();
      const actual = all
        .flatMap((stack) => Object.values(resourcesOf(stack)))
        .filter((resource) => resource.Type === 'AWS::ApiGatewayV2::Route')
        .map((resource) => resource.Properties?.RouteKey as string)
        .sort();
      assert.deepEqual(actual, expected);
    });

    it('sends each route to the function of its handler module, with a route-scoped invoke permission', () => {
      for (const { module, handler, stack } of functionsOf(stacks)) {
        const resources = resourcesOf(stack);
        const functionId = stack.getLogicalId(handler.function.node.defaultChild as CfnFunction);
        const keys = (handlerModules().get(module) ?? []).flatMap((route) =>
          route === fallbackRoute ? ['$default'] : routeKeysOf(route),
        );
        for (const key of keys) {
          const route = Object.values(resources).find(
            (resource) =>
              resource.Type === 'AWS::ApiGatewayV2::Route' && resource.Properties?.RouteKey === key,
          );
          assert.ok(route, `route ${key} in ${stack.stackName}`);
          const target = JSON.stringify(route.Properties?.Target);
          const integrationId = /"Ref":"([^"]+)"/.exec(target)?.[1] ?? '';
          assert.deepEqual(resources[integrationId]?.Properties?.IntegrationUri, {
            'Fn::GetAtt': [functionId, 'Arn'],
          });
          assert.equal(route.Properties?.AuthorizationType, 'NONE');
        }
        const permissions = Object.values(resources).filter(
          (resource) =>
            resource.Type === 'AWS::Lambda::Permission' &&
            JSON.stringify(resource.Properties?.FunctionName) ===
              JSON.stringify({ 'Fn::GetAtt': [functionId, 'Arn'] }),
        );
        assert.equal(permissions.length, keys.length, `one permission per route key of ${module}`);
      }
    });
  });

  describe('functions', () => {
    it('are one Node.js 24 arm64 function per handler module, plus the engine’s two, configured for Sluice', () => {
      const functions = all.flatMap((stack) =>
        Object.entries(resourcesOf(stack)).filter(
          ([id, resource]) => resource.Type === 'AWS::Lambda::Function' && !isNotificationHandler(id),
        ),
      );
      assert.equal(functions.length, handlerModules().size + engineFunctionsOf(stacks).length);
      assert.deepEqual(
        functionsOf(stacks)
          .map((f) => f.module)
          .sort(),
        [...handlerModules().keys()].sort(),
      );
      for (const { module, handler, stack } of [...functionsOf(stacks), ...engineFunctionsOf(stacks)]) {
        const props = resourcesOf(stack)[idOf(stack, handler.function)]?.Properties as Record<
          string,
          unknown
        > & {
          Environment: { Variables: Record<string, unknown> };
          MemorySize: number;
          Timeout: number;
        };
        assert.equal(props.Runtime, 'nodejs24.x');
        assert.deepEqual(props.Architectures, ['arm64']);
        assert.equal(props.Handler, 'index.handler');
        assert.ok(props.MemorySize >= 256 && props.MemorySize <= 512);
        if (module === 'task-runner') {
          // Inline tasks run inside one invocation: the Task state's timeout governs, Lambda's maximum caps it.
          assert.equal(props.Timeout, 900);
        } else {
          // Route functions end before API Gateway's 29 s integration timeout.
          assert.ok(props.Timeout >= 10 && props.Timeout <= 29, module);
        }
        const variables = props.Environment.Variables;
        assert.ok(variables[configVariables.tableName], module);
        assert.ok(variables[configVariables.bucketName], module);
        assert.equal(variables.POWERTOOLS_SERVICE_NAME, 'sluice');
        assert.equal(variables.NODE_OPTIONS, '--enable-source-maps');
        assert.ok(props.LoggingConfig, 'a dedicated log group');
      }
    });

    it('give the engine’s variables to exactly the functions that build the engine, and no ECS ones by default', () => {
      const engineVariables = [
        configVariables.taskRunnerFunction,
        configVariables.statesRoleArn,
        configVariables.statesLogGroupArn,
      ];
      const ecsVariables = [
        configVariables.ecsCluster,
        configVariables.ecsTaskDefinition,
        configVariables.ecsSubnets,
        configVariables.ecsSecurityGroup,
      ];
      const engineModules = new Set(engineFunctionsOf(stacks).map((f) => f.module));
      for (const { module, handler, stack } of [...functionsOf(stacks), ...engineFunctionsOf(stacks)]) {
        const variables = variablesOf(stack, handler.function);
        const buildsEngine =
          engineModules.has(module) || Boolean(mergeAccess(handlerModules().get(module) ?? []).orchestrator);
        for (const name of engineVariables)
          assert.equal(name in variables, buildsEngine, `${module}: ${name}`);
        for (const name of ecsVariables) assert.ok(!(name in variables), `${module}: ${name}`);
        if (buildsEngine) {
          assert.equal(variables[configVariables.taskRunnerFunction], 'Sluice-engine-task-runner');
        }
      }
    });

    it('each log to a log group of their own, with retention', () => {
      for (const { handler, stack } of [...functionsOf(stacks), ...engineFunctionsOf(stacks)]) {
        const resources = resourcesOf(stack);
        const fn = resources[stack.getLogicalId(handler.function.node.defaultChild as CfnFunction)];
        const logging = fn?.Properties?.LoggingConfig as { LogGroup: { Ref: string } } | undefined;
        const logGroupId = logging?.LogGroup.Ref ?? '';
        assert.equal(resources[logGroupId]?.Type, 'AWS::Logs::LogGroup');
        assert.ok(resources[logGroupId]?.Properties?.RetentionInDays);
      }
    });

    it('copy the Swagger UI assets the swagger-ui handler serves next to its bundle', () => {
      assert.deepEqual([...(bundledFiles['swagger-ui']?.files ?? [])], swaggerAssets);
      const commands = commandHooks('swagger-ui')?.afterBundling('/in', '/out') ?? [];
      for (const asset of swaggerAssets) {
        assert.ok(existsSync(join(root, 'node_modules', 'swagger-ui-dist', asset)), asset);
        assert.ok(commands.some((command) => command.includes(`/out/swagger-ui/${asset}`)));
      }
      assert.equal(commandHooks('health'), undefined);
    });
  });

  describe('IAM: least privilege from the routes’ access', () => {
    it('lets the health function read the table and bucket but write nothing', () => {
      const health = functionsOf(stacks).find((f) => f.module === 'health');
      assert.ok(health);
      const actions = actionsOf(health.stack, health.handler);
      for (const action of ['dynamodb:GetItem', 'dynamodb:Query', 's3:GetObject', 's3:ListBucket']) {
        assert.ok(actions.includes(action), action);
      }
      for (const action of writeActions) assert.ok(!actions.includes(action), action);
      assert.ok(!actions.includes('dynamodb:Scan'), 'no request path may scan the table');
      assert.ok(!actions.some((action) => action.includes('*')), `no wildcard actions: ${actions}`);
    });

    it('gives openapi, swagger-ui and not-found no table or bucket access at all', () => {
      for (const module of ['openapi', 'swagger-ui', 'not-found']) {
        const found = functionsOf(stacks).find((f) => f.module === module);
        assert.ok(found, module);
        const actions = actionsOf(found.stack, found.handler);
        assert.deepEqual(actions.sort(), ['logs:CreateLogStream', 'logs:PutLogEvents'], module);
      }
    });

    it('grants every function exactly what the union of its routes’ access says', () => {
      for (const { module, handler, stack } of functionsOf(stacks)) {
        const access = mergeAccess(handlerModules().get(module) ?? []);
        const actions = actionsOf(stack, handler);
        assert.equal(
          actions.some((a) => a.startsWith('dynamodb:')),
          Boolean(access.metadata),
          module,
        );
        assert.equal(
          actions.some((a) => a.startsWith('s3:')),
          Boolean(access.blobs),
          module,
        );
        assert.equal(actions.includes('dynamodb:PutItem'), access.metadata === 'write', module);
        assert.equal(actions.includes('s3:PutObject'), access.blobs === 'write', module);
        const orchestrator = access.orchestrator ?? [];
        assert.equal(actions.includes('states:CreateStateMachine'), orchestrator.includes('deploy'), module);
        assert.equal(
          actions.includes('iam:PassRole'),
          orchestrator.includes('deploy') || Boolean(access.schedules),
          module,
        );
        assert.equal(
          actions.some((a) => a.startsWith('scheduler:')),
          Boolean(access.schedules),
          module,
        );
        assert.equal(actions.includes('states:StartExecution'), orchestrator.includes('run'), module);
        assert.equal(actions.includes('states:SendTaskSuccess'), orchestrator.includes('run'), module);
        // Route functions without orchestrator access get no Step Functions action at all.
        if (orchestrator.length === 0) assert.ok(!actions.some((a) => a.startsWith('states:')), module);
        assert.ok(!actions.includes('lambda:InvokeFunction'), module);
      }
    });

    it('lets the deploying functions (createFlow…) deploy sluice-* state machines and pass only the states role, to Step Functions', () => {
      const deployers = functionsOf(stacks).filter(({ module }) =>
        mergeAccess(handlerModules().get(module) ?? []).orchestrator?.includes('deploy'),
      );
      assert.ok(deployers.some(({ module }) => module === 'create-flow'));
      for (const { module, handler, stack } of deployers) {
        const statements = statementsOf(stack, handler);
        // Passing the states role, to Step Functions (a trigger-managing function also passes the scheduler role).
        const passRole = statements.filter(
          (statement) =>
            [statement.Action].flat().includes('iam:PassRole') &&
            JSON.stringify(statement.Condition).includes('states.amazonaws.com'),
        );
        assert.equal(passRole.length, 1, module);
        const [only] = passRole;
        assert.deepEqual(only?.Action, 'iam:PassRole');
        // Exactly the engine stack's states role (a cross-stack reference), nothing else.
        assert.deepEqual(crossStackValue(stacks.engine, only?.Resource), {
          'Fn::GetAtt': [idOf(stacks.engine, stacks.engine.statesRole), 'Arn'],
        });
        assert.deepEqual(only?.Condition, {
          StringEquals: { 'iam:PassedToService': 'states.amazonaws.com' },
        });
        const grants = grantsOf(stack, handler);
        for (const action of orchestratorActions.deploy.stateMachines) {
          assert.deepEqual(grants[action], [sluiceStateMachines], `${module}: ${action}`);
        }
      }
    });

    it('lets the running functions start, stop, redrive and describe sluice-* executions and answer task tokens', () => {
      const runners = functionsOf(stacks).filter(({ module }) =>
        mergeAccess(handlerModules().get(module) ?? []).orchestrator?.includes('run'),
      );
      assert.ok(runners.some(({ module }) => module === 'start-execution'));
      for (const { module, handler, stack } of runners) {
        const grants = grantsOf(stack, handler);
        assert.deepEqual(grants['states:StartExecution'], [sluiceStateMachines], module);
        for (const action of orchestratorActions.run.executions) {
          assert.deepEqual(grants[action], [sluiceExecutions], `${module}: ${action}`);
        }
        for (const action of taskTokenActions)
          assert.deepEqual(grants[action], ['*'], `${module}: ${action}`);
        // `*` only for the task-token actions, which accept no other resource.
        const starred = Object.entries(grants)
          .filter(([, resources]) => resources.includes('*'))
          .map(([action]) => action);
        assert.deepEqual(starred.sort(), [...taskTokenActions].sort(), module);
        if (!mergeAccess(handlerModules().get(module) ?? []).orchestrator?.includes('deploy')) {
          assert.ok(!grants['iam:PassRole'], module);
        }
      }
    });
  });

  describe('flow engine', () => {
    it('runs state machines as a role only Step Functions, for sluice-* state machines of this account, can assume', () => {
      const role = resourcesOf(stacks.engine)[idOf(stacks.engine, stacks.engine.statesRole)];
      const trust = role?.Properties?.AssumeRolePolicyDocument as { Statement: unknown[] } | undefined;
      assert.deepEqual(trust?.Statement, [
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'states.amazonaws.com' },
          Condition: {
            StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
            ArnLike: { 'aws:SourceArn': cfnArn('states', 'stateMachine:sluice-*') },
          },
        },
      ]);
      assert.equal(role?.Properties?.ManagedPolicyArns, undefined);
    });

    it('grants the states role exactly what generated state machines do (command tasks off)', () => {
      const runner = `\${${idOf(stacks.engine, stacks.engine.taskRunner)}.Arn}`;
      assert.deepEqual(grantsOf(stacks.engine, stacks.engine.statesRole), {
        'events:DescribeRule': [arnOf('events', 'rule/StepFunctionsGetEventsForStepFunctionsExecutionRule')],
        'events:PutRule': [arnOf('events', 'rule/StepFunctionsGetEventsForStepFunctionsExecutionRule')],
        'events:PutTargets': [arnOf('events', 'rule/StepFunctionsGetEventsForStepFunctionsExecutionRule')],
        // The task runner, and user functions named with the lambda task prefix; never `*`.
        'lambda:InvokeFunction': [arnOf('lambda', 'function:sluice-task-*'), runner].sort(),
        ...Object.fromEntries(logDeliveryActions.map((action) => [action, ['*']])),
        'states:DescribeExecution': [sluiceExecutions],
        'states:StartExecution': [sluiceStateMachines],
        'states:StopExecution': [sluiceExecutions],
      });
      const actions = statementsOf(stacks.engine, stacks.engine.statesRole).flatMap((s) => [s.Action].flat());
      assert.ok(!actions.some((action) => action.startsWith('ecs:') || action === 'iam:PassRole'));
    });

    it('takes the lambda task prefix from context, and refuses a task runner the prefix would match', () => {
      const { stacks: custom } = synthesize(planStacks(), { 'sluice:lambdaTaskPrefix': 'acme-flow-' });
      assert.deepEqual(
        grantsOf(custom.engine, custom.engine.statesRole)['lambda:InvokeFunction'],
        [
          arnOf('lambda', 'function:acme-flow-*'),
          `\${${idOf(custom.engine, custom.engine.taskRunner)}.Arn}`,
        ].sort(),
      );
      for (const prefix of ['', 'x', 'a*', 'no spaces']) {
        assert.throws(
          () => synthesize(planStacks(), { 'sluice:lambdaTaskPrefix': prefix }),
          /lambdaTaskPrefix/,
          prefix,
        );
      }
      assert.throws(
        () => synthesize(planStacks(), { 'sluice:lambdaTaskPrefix': 'sluice-engine' }),
        /must not match the lambda task prefix/,
      );
    });

    it('has a task runner with a fixed name that may use the table, the bucket and task tokens, and nothing else', () => {
      const fn = resourcesOf(stacks.engine)[idOf(stacks.engine, stacks.engine.taskRunner)];
      assert.equal(fn?.Properties?.FunctionName, 'Sluice-engine-task-runner');
      const grants = grantsOf(stacks.engine, stacks.engine.taskRunnerFunction);
      assert.deepEqual(
        Object.keys(grants).sort(),
        [
          'dynamodb:DeleteItem',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:Query',
          'dynamodb:UpdateItem',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          's3:DeleteObject',
          's3:GetObject',
          's3:ListBucket',
          's3:PutObject',
          ...taskTokenActions,
        ].sort(),
      );
      for (const action of taskTokenActions) assert.deepEqual(grants[action], ['*']);
    });

    it('records how executions end: a rule on Sluice’s status changes invokes a function that may start the next execution', () => {
      const template = Template.fromStack(stacks.engine);
      const rules = Object.values(template.findResources('AWS::Events::Rule'));
      assert.equal(rules.length, 1);
      const rule = rules[0]?.Properties as { EventPattern: unknown; Targets: { Arn: unknown }[] };
      assert.deepEqual(rule.EventPattern, {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: {
          status: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'],
          stateMachineArn: [{ prefix: cfnArn('states', 'stateMachine:sluice-') }],
        },
      });
      const fnId = idOf(stacks.engine, stacks.engine.executionEvents.function);
      assert.deepEqual(
        rule.Targets.map((target) => target.Arn),
        [{ 'Fn::GetAtt': [fnId, 'Arn'] }],
      );
      template.hasResourceProperties('AWS::Lambda::Permission', {
        FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
        Principal: 'events.amazonaws.com',
      });
      const grants = grantsOf(stacks.engine, stacks.engine.executionEvents);
      assert.deepEqual(
        Object.keys(grants).sort(),
        [
          'dynamodb:DeleteItem',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:Query',
          'dynamodb:UpdateItem',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          's3:DeleteObject',
          's3:GetObject',
          's3:ListBucket',
          's3:PutObject',
          // Its failed events go to the failed-events queue.
          'sqs:GetQueueAttributes',
          'sqs:GetQueueUrl',
          'sqs:SendMessage',
          ...orchestratorActions.run.executions,
          ...orchestratorActions.run.stateMachines,
          ...taskTokenActions,
        ].sort(),
      );
    });

    it('builds no ECS, VPC or security group resource unless command tasks are enabled', () => {
      const types = Object.values(resourcesOf(stacks.engine)).map((resource) => resource.Type);
      assert.ok(!types.some((type) => /^AWS::(ECS|EC2)::/.test(type)), types.join(', '));
      assert.equal(stacks.engine.commands, undefined);
      assert.throws(() => synthesize(planStacks(), { 'sluice:enableCommandTasks': 'yes' }), /true or false/);
      assert.throws(
        () => synthesize(planStacks(), { ...commandsOn, 'sluice:vpcId': 'vpc-0123456789abcdef0' }),
        /account and region/,
      );
    });
  });

  describe('triggers', () => {
    const engine = () => stacks.engine;
    // The group has a fixed name (`<prefix>-triggers`), so the ARN is literal.
    const schedulesOfGroup = () =>
      `arn:\${AWS::Partition}:scheduler:${region}:${account}:schedule/Sluice-triggers/*`;

    it('keeps cron schedules in one schedule group of the deployment', () => {
      const groups = Object.values(resourcesOf(engine())).filter(
        (r) => r.Type === 'AWS::Scheduler::ScheduleGroup',
      );
      assert.equal(groups.length, 1);
      assert.equal(groups[0]?.Properties?.Name, 'Sluice-triggers');
    });

    it('lets EventBridge Scheduler, for schedules of that group only, invoke the fire function and nothing else', () => {
      const role = engine().triggers.schedules.schedulerRole;
      const resource = resourcesOf(engine())[idOf(engine(), role)];
      const trust = resource?.Properties?.AssumeRolePolicyDocument as { Statement: Statement[] } | undefined;
      assert.equal(trust?.Statement.length, 1);
      const [statement] = trust?.Statement ?? [];
      assert.deepEqual((statement as unknown as { Principal: unknown }).Principal, {
        Service: 'scheduler.amazonaws.com',
      });
      // EventBridge Scheduler's source ARN is the schedule group's.
      assert.deepEqual(statement?.Condition?.StringEquals, {
        'aws:SourceAccount': { Ref: 'AWS::AccountId' },
        'aws:SourceArn': { 'Fn::GetAtt': [idOf(engine(), engine().triggers.schedules.group), 'Arn'] },
      });
      assert.equal(statement?.Condition?.ArnLike, undefined);
      assert.equal(resource?.Properties?.ManagedPolicyArns, undefined);
      const fire = `\${${idOf(engine(), engine().triggers.fireFunction.function)}.Arn}`;
      assert.deepEqual(grantsOf(engine(), role as Role), { 'lambda:InvokeFunction': [fire] });
    });

    it('gives exactly the trigger-managing functions the schedule actions on that group and the scheduler role to pass', () => {
      const managers = functionsOf(stacks).filter(
        ({ module }) => mergeAccess(handlerModules().get(module) ?? []).schedules,
      );
      assert.deepEqual(managers.map(({ module }) => module).sort(), [
        'create-trigger',
        'delete-flow',
        'delete-trigger',
        'enos-flows-get',
        'enos-flows-post',
        'rill-add-trigger',
        'rill-cancel-trigger',
        'update-trigger',
      ]);
      for (const { module, handler, stack } of functionsOf(stacks)) {
        const variables = variablesOf(stack, handler.function);
        const manages = managers.some((manager) => manager.module === module);
        for (const name of [
          configVariables.scheduleGroup,
          configVariables.schedulerRoleArn,
          configVariables.fireTriggerFunctionArn,
        ]) {
          assert.equal(name in variables, manages, `${module}: ${name}`);
        }
        if (!manages) continue;
        const grants = grantsOf(stack, handler);
        for (const action of scheduleActions) {
          assert.deepEqual(grants[action], [schedulesOfGroup()], `${module}: ${action}`);
        }
        const passRole = statementsOf(stack, handler).filter(
          (statement) =>
            [statement.Action].flat().includes('iam:PassRole') &&
            JSON.stringify(statement.Condition).includes('scheduler.amazonaws.com'),
        );
        assert.equal(passRole.length, 1, module);
        assert.deepEqual(crossStackValue(engine(), passRole[0]?.Resource), {
          'Fn::GetAtt': [idOf(engine(), engine().triggers.schedules.schedulerRole), 'Arn'],
        });
      }
    });

    it('notifies the upload function of every object created in the files bucket', () => {
      const resources = resourcesOf(engine());
      const notifications = Object.values(resources).filter(
        (r) => r.Type === 'Custom::S3BucketNotifications',
      );
      assert.equal(notifications.length, 1);
      const upload = idOf(engine(), engine().triggers.uploadFunction.function);
      const config = notifications[0]?.Properties?.NotificationConfiguration as {
        LambdaFunctionConfigurations: { Events: string[]; LambdaFunctionArn: unknown; Filter?: unknown }[];
      };
      assert.deepEqual(config.LambdaFunctionConfigurations, [
        { Events: ['s3:ObjectCreated:*'], LambdaFunctionArn: { 'Fn::GetAtt': [upload, 'Arn'] } },
      ]);
      // Only S3, for that bucket of this account, may invoke it.
      const permissions = Object.values(resources).filter(
        (r) =>
          r.Type === 'AWS::Lambda::Permission' &&
          JSON.stringify(r.Properties?.FunctionName) === JSON.stringify({ 'Fn::GetAtt': [upload, 'Arn'] }),
      );
      assert.equal(permissions.length, 1);
      assert.equal(permissions[0]?.Properties?.Principal, 's3.amazonaws.com');
      assert.deepEqual(permissions[0]?.Properties?.SourceAccount, { Ref: 'AWS::AccountId' });
      assert.ok(permissions[0]?.Properties?.SourceArn);
      // The bucket stays in the storage stack, which depends on nothing of the engine.
      assert.ok(!stacks.storage.dependencies.includes(engine()));
    });

    it('keeps the events the asynchronously invoked functions fail on, in an encrypted queue', () => {
      const resources = resourcesOf(engine());
      const queueId = idOf(engine(), engine().failedEvents);
      assert.equal(resources[queueId]?.Properties?.SqsManagedSseEnabled, true);
      const configs = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::EventInvokeConfig');
      const functions = [
        engine().triggers.fireFunction,
        engine().triggers.uploadFunction,
        engine().executionEvents,
      ];
      assert.deepEqual(
        configs
          .map((config) => (config.Properties?.FunctionName as { Ref?: string } | undefined)?.Ref)
          .sort(),
        functions.map((fn) => idOf(engine(), fn.function)).sort(),
      );
      for (const config of configs) {
        assert.equal(config.Properties?.MaximumRetryAttempts, 2);
        assert.deepEqual(config.Properties?.DestinationConfig, {
          OnFailure: { Destination: { 'Fn::GetAtt': [queueId, 'Arn'] } },
        });
      }
      for (const fn of functions) assert.ok(grantsOf(engine(), fn)['sqs:SendMessage'], fn.node.id);
    });

    it('lets the trigger functions and the execution-events function start executions, with the table and the bucket, and invoke nothing', () => {
      // Execution events run the dialects' end hooks: EnOS starts a flow's next queued instance there.
      for (const fn of [
        engine().triggers.fireFunction,
        engine().triggers.uploadFunction,
        engine().executionEvents,
      ]) {
        const grants = grantsOf(engine(), fn);
        assert.deepEqual(grants['states:StartExecution'], [sluiceStateMachines]);
        assert.ok(grants['dynamodb:PutItem']);
        assert.ok(grants['s3:PutObject']);
        assert.ok(!grants['lambda:InvokeFunction']);
        assert.ok(!grants['iam:PassRole']);
        assert.ok(!Object.keys(grants).some((action) => action.startsWith('scheduler:')));
      }
    });
  });

  describe('cdk-nag and CDK annotations', () => {
    it('finds no unacknowledged AwsSolutions error or warning in any stack', () => {
      assert.deepEqual(nagFindings(app, all), []);
    });

    it('acknowledges only the documented rules, each with a reason', () => {
      const acknowledged = acknowledgementsOf(app);
      for (const [id, reason] of acknowledged) {
        assert.ok(
          documentedAcknowledgements.some((pattern) => pattern.test(id)),
          `undocumented acknowledgement ${id}`,
        );
        assert.ok(reason.length > 40, `reason for ${id}`);
      }
      console.log(`acknowledged cdk-nag findings:\n  ${[...acknowledged.keys()].join('\n  ')}`);
    });

    it('leaves no CDK error or warning annotation', () => {
      assertNoAnnotations(all);
    });
  });

  describe('stack sizes', () => {
    it(`keeps every stack under CloudFormation's ${cloudFormationResourceLimit}-resource limit with room for ~100 endpoints`, () => {
      for (const stack of all) {
        const count = Object.keys(resourcesOf(stack)).length;
        assert.equal(count, countResources(stack), `guard counts what is synthesized in ${stack.stackName}`);
        assert.ok(count <= resourceBudget, `${stack.stackName}: ${count}`);
      }
      // Cost of one function and of one route key, measured on the synthesized stacks:
      // a function is log group + role + policy + function + integration, a route key is
      // route + invoke permission.
      const costs = functionsOf(stacks).map(({ handler, stack }) => ({
        keys: handler.routes.length,
        resources: handler.node.findAll().filter((c) => CfnResource.isCfnResource(c)).length,
        stack,
      }));
      const perKey = 2;
      const perFunction = 5;
      for (const cost of costs) assert.equal(cost.resources, perFunction + perKey * cost.keys);
      // Fixed part of a dialect stack: what is not a function (none today).
      const overhead = Math.max(
        ...[...stacks.dialects.values()].map(
          (stack) =>
            countResources(stack) -
            costs.filter((c) => c.stack === stack).reduce((sum, c) => sum + c.resources, 0),
        ),
      );
      // ~100 endpoints over five client dialects is ~20 each; the biggest seed
      // (data_pipeline) has about 30. Even with one function per endpoint:
      const singleRouteFunctions = Math.floor((resourceBudget - overhead) / (perFunction + perKey));
      console.log(
        [
          ...all.map((stack) => `${stack.stackName}: ${countResources(stack)} resources`),
          `per function ${perFunction} + per route key ${perKey}; a dialect stack fits ` +
            `${singleRouteFunctions} one-route functions within the ${resourceBudget} budget`,
        ].join('\n'),
      );
      assert.ok(30 * (perFunction + perKey) + overhead < cloudFormationResourceLimit);
      assert.ok(singleRouteFunctions >= 50);
    });

    it('fails synthesis, not a deployment, when a stack outgrows its budget', () => {
      const small = new App();
      const stack = new Stack(small, 'Crowded');
      for (const id of ['A', 'B']) new CfnResource(stack, id, { type: 'AWS::SNS::Topic' });
      guardResourceBudget(stack, 1);
      assert.throws(() => small.synth(), /Crowded would hold 2 resources \(budget 1/);
    });
  });
});

describe('command tasks enabled (context sluice:enableCommandTasks=true)', () => {
  let app: App;
  let stacks: SluiceStacks;
  let all: Stack[];
  let engine: SluiceStacks['engine'];
  before(() => {
    const started = performance.now();
    ({ app, stacks, all } = synthesize(planStacks(), commandsOn));
    engine = stacks.engine;
    console.log(`synthesized with command tasks in ${Math.round(performance.now() - started)} ms`);
  });

  const commands = () => {
    assert.ok(engine.commands);
    return engine.commands;
  };

  it('creates a VPC of two public subnets in two AZs, no NAT gateway and no private subnet, with flow logs', () => {
    const template = Template.fromStack(engine);
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
    const subnets = Object.values(template.findResources('AWS::EC2::Subnet'));
    assert.equal(subnets.length, 2);
    for (const subnet of subnets) {
      // Tasks get a public IP only when RunTask asks for one, never by subnet default.
      assert.equal(subnet.Properties.MapPublicIpOnLaunch, false);
    }
    const azs = subnets.map((subnet) => JSON.stringify(subnet.Properties.AvailabilityZone));
    assert.equal(new Set(azs).size, 2);
  });

  it('lets nothing in: the command tasks’ security group has no inbound rule', () => {
    const template = Template.fromStack(engine);
    const groups = template.findResources('AWS::EC2::SecurityGroup');
    assert.equal(Object.keys(groups).length, 1);
    for (const group of Object.values(groups)) assert.equal(group.Properties.SecurityGroupIngress, undefined);
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  });

  it('has a cluster with container insights and an ARM64 Fargate task definition (0.25 vCPU, 0.5 GiB, read-only root, logs)', () => {
    const template = Template.fromStack(engine);
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
    const definitions = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    assert.equal(definitions.length, 1);
    const props = definitions[0]?.Properties as Record<string, unknown> & {
      ContainerDefinitions: Record<string, unknown>[];
    };
    assert.deepEqual(props.RequiresCompatibilities, ['FARGATE']);
    assert.deepEqual(props.RuntimePlatform, { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' });
    assert.equal(props.Cpu, '256');
    assert.equal(props.Memory, '512');
    assert.equal(props.Family, 'Sluice-command');
    assert.equal(props.ContainerDefinitions.length, 1);
    const [container] = props.ContainerDefinitions;
    assert.equal(container?.Name, commandContainerName);
    assert.equal(container?.Image, 'public.ecr.aws/amazonlinux/amazonlinux:2023');
    assert.equal(container?.ReadonlyRootFilesystem, true);
    assert.equal(container?.Command, undefined, 'each Task state overrides the command');
    assert.equal(container?.Environment, undefined);
    assert.deepEqual(container?.MountPoints, [
      { ContainerPath: '/tmp', ReadOnly: false, SourceVolume: 'scratch' },
    ]);
    const logging = container?.LogConfiguration as {
      LogDriver: string;
      Options: { 'awslogs-group': { Ref: string } };
    };
    assert.equal(logging.LogDriver, 'awslogs');
    const logGroup = resourcesOf(engine)[logging.Options['awslogs-group'].Ref];
    assert.ok(logGroup?.Properties?.RetentionInDays);
    // The commands themselves may do nothing on AWS.
    assert.deepEqual(statementsOf(engine, commands().taskRole), []);
  });

  it('takes the image from context, and validates image and VPC id', () => {
    const { stacks: custom } = synthesize(planStacks(), {
      ...commandsOn,
      'sluice:commandImage': 'ghcr.io/acme/tools:1.2',
    });
    Template.fromStack(custom.engine).hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Image: 'ghcr.io/acme/tools:1.2' })],
    });
    assert.throws(
      () => synthesize(planStacks(), { ...commandsOn, 'sluice:commandImage': 'not an image' }),
      /commandImage/,
    );
    assert.throws(() => synthesize(planStacks(), { ...commandsOn, 'sluice:vpcId': 'default' }), /vpcId/);
  });

  it('lets state machines run, stop and watch only that task definition on that cluster, passing only its roles to ECS', () => {
    const { cluster } = commands();
    const grants = grantsOf(engine, engine.statesRole);
    const ecsRule = arnOf('events', 'rule/StepFunctionsGetEventsForECSTaskRule');
    const executionRule = arnOf('events', 'rule/StepFunctionsGetEventsForStepFunctionsExecutionRule');
    const clusterId = idOf(engine, cluster);
    assert.deepEqual(grants, {
      'ecs:DescribeTasks': [arnOf('ecs', `task/\${${clusterId}}/*`)],
      'ecs:RunTask': [arnOf('ecs', 'task-definition/Sluice-command:*')],
      'ecs:StopTask': [arnOf('ecs', `task/\${${clusterId}}/*`)],
      'events:DescribeRule': [ecsRule, executionRule].sort(),
      'events:PutRule': [ecsRule, executionRule].sort(),
      'events:PutTargets': [ecsRule, executionRule].sort(),
      'iam:PassRole': [
        `\${${idOf(engine, commands().executionRole)}.Arn}`,
        `\${${idOf(engine, commands().taskRole)}.Arn}`,
      ].sort(),
      'lambda:InvokeFunction': [
        arnOf('lambda', 'function:sluice-task-*'),
        `\${${idOf(engine, engine.taskRunner)}.Arn}`,
      ].sort(),
      ...Object.fromEntries(logDeliveryActions.map((action) => [action, ['*']])),
      'states:DescribeExecution': [sluiceExecutions],
      'states:StartExecution': [sluiceStateMachines],
      'states:StopExecution': [sluiceExecutions],
    });
    const statements = statementsOf(engine, engine.statesRole);
    const runTask = statements.find((statement) => statement.Action === 'ecs:RunTask');
    assert.deepEqual(runTask?.Condition, {
      ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [clusterId, 'Arn'] } },
    });
    const passRole = statements.find((statement) => statement.Action === 'iam:PassRole');
    assert.deepEqual(passRole?.Condition, {
      StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });
    // No action on `*` but log delivery, and lambda:InvokeFunction never on `*`.
    for (const [action, resources] of Object.entries(grants)) {
      if (resources.includes('*')) assert.ok(logDeliveryActions.includes(action), action);
    }
  });

  it('gives the ECS variables to the engine’s functions and the API functions that deploy or run flows', () => {
    const ecsVariables = [
      configVariables.ecsCluster,
      configVariables.ecsTaskDefinition,
      configVariables.ecsSubnets,
      configVariables.ecsSecurityGroup,
    ];
    const runner = resourcesOf(engine)[idOf(engine, engine.taskRunner)]?.Properties as {
      Environment: { Variables: Record<string, unknown> };
    };
    const { cluster, securityGroup } = commands();
    assert.deepEqual(runner.Environment.Variables[configVariables.ecsCluster], {
      'Fn::GetAtt': [idOf(engine, cluster), 'Arn'],
    });
    assert.equal(runner.Environment.Variables[configVariables.ecsTaskDefinition], 'Sluice-command');
    assert.deepEqual(runner.Environment.Variables[configVariables.ecsSecurityGroup], {
      'Fn::GetAtt': [idOf(engine, securityGroup), 'GroupId'],
    });
    const subnets = runner.Environment.Variables[configVariables.ecsSubnets] as {
      'Fn::Join': [string, unknown[]];
    };
    assert.equal(subnets['Fn::Join'][0], ',');
    assert.equal(subnets['Fn::Join'][1].length, 2);
    assert.equal(runner.Environment.Variables.SLUICE_ECS_ASSIGN_PUBLIC_IP, 'ENABLED');
    for (const { module, handler, stack } of [...functionsOf(stacks), ...engineFunctionsOf(stacks)]) {
      const variables = variablesOf(stack, handler.function);
      const buildsEngine =
        stack === engine || Boolean(mergeAccess(handlerModules().get(module) ?? []).orchestrator);
      for (const name of ecsVariables) assert.equal(name in variables, buildsEngine, `${module}: ${name}`);
    }
  });

  it('passes cdk-nag with only documented acknowledgements, and leaves no CDK annotation', () => {
    assert.deepEqual(nagFindings(app, all), []);
    const acknowledged = acknowledgementsOf(app);
    for (const [id, reason] of acknowledged) {
      assert.ok(
        documentedAcknowledgements.some((pattern) => pattern.test(id)),
        `undocumented ${id}`,
      );
      assert.ok(reason.length > 40, `reason for ${id}`);
    }
    console.log(`acknowledged with command tasks:\n  ${[...acknowledged.keys()].join('\n  ')}`);
    assertNoAnnotations(all);
  });

  it(`keeps every stack within the ${resourceBudget}-resource budget`, () => {
    for (const stack of all) assert.ok(countResources(stack) <= resourceBudget, stack.stackName);
    console.log(all.map((stack) => `${stack.stackName}: ${countResources(stack)} resources`).join('\n'));
  });

  it('runs tasks in an existing VPC (context sluice:vpcId): its private subnets, no public IP, no new VPC', () => {
    const vpcId = 'vpc-0123456789abcdef0';
    const env = { account: '123456789012', region: 'eu-west-1' };
    const subnet = (id: string, az: string, n: number) => ({
      subnetId: id,
      cidr: `10.1.${n}.0/24`,
      availabilityZone: az,
      routeTableId: `rtb-0${String(n).repeat(16)}`,
    });
    const lookup = {
      vpcId,
      vpcCidrBlock: '10.1.0.0/16',
      ownerAccountId: env.account,
      availabilityZones: [],
      subnetGroups: [
        {
          name: 'Private',
          type: 'Private',
          subnets: [
            subnet('subnet-0aaaaaaaaaaaaaaa1', 'eu-west-1a', 1),
            subnet('subnet-0aaaaaaaaaaaaaaa2', 'eu-west-1b', 2),
          ],
        },
        { name: 'Public', type: 'Public', subnets: [subnet('subnet-0bbbbbbbbbbbbbbb1', 'eu-west-1a', 3)] },
      ],
    };
    const imported = new App({
      context: {
        ...cdkJson.context,
        ...commandsOn,
        'sluice:vpcId': vpcId,
        'aws:cdk:bundling-stacks': [],
        [`vpc-provider:account=${env.account}:filter.vpc-id=${vpcId}:region=${env.region}:returnAsymmetricSubnets=true`]:
          lookup,
      },
    });
    const { engine: importedEngine } = defineSluice(imported, optionsFromContext(imported, env));
    imported.synth();
    const template = Template.fromStack(importedEngine);
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: vpcId });
    const runner = resourcesOf(importedEngine)[idOf(importedEngine, importedEngine.taskRunner)]
      ?.Properties as {
      Environment: { Variables: Record<string, unknown> };
    };
    assert.equal(
      runner.Environment.Variables[configVariables.ecsSubnets],
      'subnet-0aaaaaaaaaaaaaaa1,subnet-0aaaaaaaaaaaaaaa2',
    );
    assert.equal(runner.Environment.Variables.SLUICE_ECS_ASSIGN_PUBLIC_IP, 'DISABLED');
  });
});

describe('cdk-nag acknowledgements', () => {
  it('are scoped to the role they explain: an unexplained wildcard elsewhere is still a finding', () => {
    const app = new App();
    const stack = new Stack(app, 'Scoped');
    const explained = new Role(stack, 'Explained', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    });
    const unexplained = new Role(stack, 'Unexplained', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    });
    for (const role of [explained, unexplained]) {
      role.addToPrincipalPolicy(new PolicyStatement({ actions: [...taskTokenActions], resources: ['*'] }));
    }
    Validations.of(explained).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'a reason long enough',
    });
    const findings = nagFindings(app, [stack]);
    assert.equal(findings.length, 1, findings.join('\n'));
    assert.match(findings[0] ?? '', /IAM5.*Scoped\/Unexplained\//);
  });
});

describe('stacks are a pure function of the route table', () => {
  const route = (
    module: string,
    id: string,
    dialect: RouteDefinition['dialect'],
    path: string,
  ): RouteDefinition => ({
    id,
    method: 'GET',
    path,
    handler: module,
    dialect,
    summary: id,
    responses: { 200: { description: 'ok' } },
  });

  it('gives every dialect with routes a stack of its own', () => {
    // Existing handler files stand in for other dialects' modules (no bundling here).
    const modules = new Map<string, RouteDefinition[]>([
      [
        'health',
        [
          {
            ...route('health', 'enosList', 'enos', '/dataflow-batch-service/v2.0/flows'),
            access: { metadata: 'write' },
          },
        ],
      ],
      ['openapi', [route('openapi', 'rillDag', 'rill-flow', '/flow/{name}')]],
      ['not-found', [fallbackRoute]],
    ]);
    const { stacks } = synthesize(planStacks(modules));
    assert.deepEqual([...stacks.dialects.keys()], ['rill-flow', 'enos']);
    assert.deepEqual(
      [...stacks.dialects.values()].map((stack) => stack.stackName),
      ['Sluice-Routes-RillFlow', 'Sluice-Routes-Enos'],
    );
    const enos = stacks.dialects.get('enos');
    assert.ok(enos);
    const writer = enos.handlers.get('health');
    assert.ok(writer);
    const actions = actionsOf(enos, writer);
    assert.ok(actions.includes('dynamodb:PutItem'));
    Template.fromStack(enos).hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'GET /dataflow-batch-service/v2.0/flows',
    });
  });

  it('turns CORS on only for the origins given in context, and validates context', () => {
    const { stacks } = synthesize(planStacks(), {
      'sluice:corsAllowOrigins': 'https://console.example.com, https://admin.example.com',
      'sluice:prefix': 'SluiceTest',
    });
    assert.equal(stacks.api.stackName, 'SluiceTest-Api');
    Template.fromStack(stacks.api).hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: { AllowOrigins: ['https://console.example.com', 'https://admin.example.com'] },
    });
    assert.throws(() => synthesize(planStacks(), { 'sluice:logRetentionDays': 31 }), /retention/);
    assert.throws(() => synthesize(planStacks(), { 'sluice:prefix': 'no spaces' }), /prefix/);
  });

  it('merges access to the widest level any route of a module needs', () => {
    assert.deepEqual(
      mergeAccess([
        { ...route('m', 'a', 'native', '/a'), access: { metadata: 'read' } },
        { ...route('m', 'b', 'native', '/b'), access: { metadata: 'write', blobs: 'read' } },
        route('m', 'c', 'native', '/c'),
      ]),
      { metadata: 'write', blobs: 'read' },
    );
    assert.deepEqual(mergeAccess([route('m', 'c', 'native', '/c')]), {});
  });

  it('merges orchestrator access as a set: deploying and running are different capabilities', () => {
    const deploy = { ...route('m', 'd', 'native', '/d'), access: { orchestrator: 'deploy' } } as const;
    const run = {
      ...route('m', 'r', 'native', '/r'),
      access: { metadata: 'read', orchestrator: 'run' },
    } as const;
    assert.deepEqual(mergeAccess([run, deploy, run]), { metadata: 'read', orchestrator: ['deploy', 'run'] });
    assert.deepEqual(mergeAccess([run]), { metadata: 'read', orchestrator: ['run'] });
  });

  it('gives a module serving deploy and run routes both capabilities, and the engine’s variables once', () => {
    const modules = new Map<string, RouteDefinition[]>([
      [
        'health',
        [
          { ...route('health', 'a', 'native', '/a'), access: { orchestrator: 'deploy' } },
          { ...route('health', 'b', 'native', '/b'), access: { orchestrator: 'run' } },
        ],
      ],
      ['not-found', [fallbackRoute]],
    ]);
    const { stacks } = synthesize(planStacks(modules));
    const native = stacks.dialects.get('native');
    const both = native?.handlers.get('health');
    assert.ok(native && both);
    const actions = actionsOf(native, both);
    for (const action of [
      ...orchestratorActions.deploy.stateMachines,
      'iam:PassRole',
      ...orchestratorActions.run.stateMachines,
      ...orchestratorActions.run.executions,
      ...taskTokenActions,
    ]) {
      assert.ok(actions.includes(action), action);
    }
    assert.ok(!actions.some((action) => action.startsWith('dynamodb:') || action.startsWith('s3:')));
  });

  it('refuses orchestrator access without a flow engine to grant it on', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Lone');
    const plan = planStacks(
      new Map([
        [
          'health',
          [{ ...route('health', 'a', 'native', '/a'), access: { orchestrator: 'run' } } as RouteDefinition],
        ],
        ['not-found', [fallbackRoute]],
      ]),
    ).byDialect.get('native')?.[0];
    assert.ok(plan);
    const table = new Table(stack, 'T', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    const bucket = new Bucket(stack, 'B');
    assert.throws(
      () =>
        new HandlerFunction(stack, 'F', {
          plan,
          httpApi: new HttpApi(stack, 'Api'),
          table,
          bucket,
          logRetention: RetentionDays.ONE_DAY,
        }),
      /needs the flow engine/,
    );
  });

  it('rejects a module serving several dialects and a route key served twice', () => {
    assert.throws(
      () =>
        planStacks(
          new Map([
            ['m', [route('m', 'a', 'native', '/a'), route('m', 'b', 'enos', '/b')]],
            ['not-found', [fallbackRoute]],
          ]),
        ),
      /several dialects/,
    );
    assert.throws(
      () =>
        planStacks(
          new Map([
            ['m', [route('m', 'a', 'native', '/a')]],
            ['n', [route('n', 'b', 'native', '/a')]],
            ['not-found', [fallbackRoute]],
          ]),
        ),
      /served twice/,
    );
  });
});
