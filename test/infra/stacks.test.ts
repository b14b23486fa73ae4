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
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { tableDesign } from '../../lambdas/adapters/aws/table-design.ts';
import { configVariables } from '../../lambdas/config.ts';
import { swaggerAssets } from '../../lambdas/handlers/swagger-ui.ts';
import type { RouteDefinition } from '../../lambdas/http/route.ts';
import { routeKeysOf } from '../../lambdas/http/route.ts';
import { fallbackRoute, handlerModules, routes } from '../../lambdas/routes.ts';
import { accessLogFields } from '../../lib/api-stack.ts';
import { bundledFiles, commandHooks, type HandlerFunction } from '../../lib/handler-function.ts';
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
  return { app, stacks, all: [stacks.storage, stacks.api, ...stacks.dialects.values()] };
}

type Resources = Record<
  string,
  { Type: string; Properties?: Record<string, unknown> } & Record<string, unknown>
>;
const resourcesOf = (stack: Stack): Resources => Template.fromStack(stack).toJSON().Resources as Resources;

/** Every function of the app with its handler module. */
function functionsOf(stacks: SluiceStacks): { module: string; handler: HandlerFunction; stack: Stack }[] {
  const found = [{ module: fallbackRoute.handler, handler: stacks.api.fallback, stack: stacks.api as Stack }];
  for (const stack of stacks.dialects.values()) {
    for (const [module, handler] of stack.handlers) found.push({ module, handler, stack });
  }
  return found;
}

/** Actions of every policy statement attached to the function's role. */
function actionsOf(stack: Stack, handler: HandlerFunction): string[] {
  const roleId = stack.getLogicalId(handler.role.node.defaultChild as CfnResource);
  const actions: string[] = [];
  for (const resource of Object.values(resourcesOf(stack))) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const props = resource.Properties as {
      Roles: { Ref: string }[];
      PolicyDocument: { Statement: unknown[] };
    };
    if (!props.Roles.some((role) => role.Ref === roleId)) continue;
    for (const statement of props.PolicyDocument.Statement as { Action: string | string[] }[]) {
      actions.push(...[statement.Action].flat());
    }
  }
  return actions;
}

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
    it('are one Node.js 24 arm64 function per handler module, configured for Sluice', () => {
      const functions = all.flatMap((stack) =>
        Object.values(resourcesOf(stack)).filter((resource) => resource.Type === 'AWS::Lambda::Function'),
      );
      assert.equal(functions.length, handlerModules().size);
      assert.deepEqual(
        functionsOf(stacks)
          .map((f) => f.module)
          .sort(),
        [...handlerModules().keys()].sort(),
      );
      for (const fn of functions) {
        const props = fn.Properties as Record<string, unknown> & {
          Environment: { Variables: Record<string, unknown> };
          MemorySize: number;
          Timeout: number;
        };
        assert.equal(props.Runtime, 'nodejs24.x');
        assert.deepEqual(props.Architectures, ['arm64']);
        assert.equal(props.Handler, 'index.handler');
        assert.ok(props.MemorySize >= 256 && props.MemorySize <= 512);
        assert.ok(props.Timeout >= 10 && props.Timeout <= 29);
        const variables = props.Environment.Variables;
        for (const name of Object.values(configVariables)) assert.ok(variables[name], name);
        assert.equal(variables.POWERTOOLS_SERVICE_NAME, 'sluice');
        assert.equal(variables.NODE_OPTIONS, '--enable-source-maps');
        assert.ok(props.LoggingConfig, 'a dedicated log group');
      }
    });

    it('each log to a log group of their own, with retention', () => {
      for (const { handler, stack } of functionsOf(stacks)) {
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
      }
    });
  });

  describe('cdk-nag and CDK annotations', () => {
    it('finds no unacknowledged AwsSolutions error or warning in any stack', () => {
      for (const stack of all) {
        const report = new AwsSolutionsChecks(app).validateScope(stack);
        const findings = report.violations.map(
          (v) =>
            `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
        );
        assert.deepEqual(findings, [], stack.stackName);
      }
    });

    it('acknowledges only the documented rules, each with a reason', () => {
      const acknowledged = new Map<string, string>();
      for (const construct of app.node.findAll()) {
        for (const entry of construct.node.metadata) {
          if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
          for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
            acknowledged.set(id.replace(/^annotation::/i, ''), reason);
          }
        }
      }
      for (const [id, reason] of acknowledged) {
        assert.match(id, /^AwsSolutions-(APIG4|IAM5\[Resource::.+\/(index\/)?\*\])$/, id);
        assert.ok(reason.length > 40, `reason for ${id}`);
      }
      console.log(`acknowledged cdk-nag findings:\n  ${[...acknowledged.keys()].join('\n  ')}`);
    });

    it('leaves no CDK error or warning annotation', () => {
      for (const stack of all) {
        const annotations = Annotations.fromStack(stack);
        assert.deepEqual(annotations.findError('*', Match.anyValue()), [], stack.stackName);
        assert.deepEqual(annotations.findWarning('*', Match.anyValue()), [], stack.stackName);
      }
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
