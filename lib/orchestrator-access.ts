import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import type { IScheduleGroup } from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import { acknowledgeWildcardResource } from './nag.ts';
import type { OrchestratorCapability } from './route-plan.ts';

/**
 * Every flow version's state machine is named `sluice-<flowId>-v<n>`
 * (lambdas/core/engine/flows.ts), so this prefix scopes every Step Functions
 * grant, the status-change rule and the subflow permissions to Sluice's own.
 */
export const stateMachineNamePrefix = 'sluice-';

/** What API functions that manage triggers are given. */
export interface TriggerSchedules {
  group: IScheduleGroup;
  /** EventBridge Scheduler assumes it to invoke the fire function; API functions pass it, and only it. */
  schedulerRole: IRole;
  environment: Readonly<Record<string, string>>;
}

/** What API functions need to know of the flow engine (built by lib/engine-stack.ts). */
export interface Engine {
  /** The function every Task state of a generated state machine invokes. */
  taskRunner: IFunction;
  /** The role Step Functions executions assume; functions that deploy flows may pass it, and only it. */
  statesRole: IRole;
  /** Where every generated state machine logs. */
  statesLogGroup: ILogGroup;
  /** The SLUICE_* engine variables (lambdas/config.ts) of every function that builds the engine. */
  environment: Readonly<Record<string, string>>;
  /** Cron triggers' schedule group and scheduler role, for functions that manage triggers. */
  schedules: TriggerSchedules;
}

/** ARNs of Sluice's state machines and their executions, in the account and region of `scope`. */
export function flowArns(scope: Construct): {
  /** Prefix of every Sluice state machine ARN, without wildcard: for EventBridge prefix matching. */
  stateMachinePrefix: string;
  stateMachines: string;
  executions: string;
} {
  const stack = Stack.of(scope);
  const arn = (resource: string, resourceName: string) =>
    stack.formatArn({ service: 'states', resource, resourceName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  return {
    stateMachinePrefix: arn('stateMachine', stateMachineNamePrefix),
    stateMachines: arn('stateMachine', `${stateMachineNamePrefix}*`),
    // arn:…:execution:<state machine name>:<execution name>
    executions: arn('execution', `${stateMachineNamePrefix}*:*`),
  };
}

/** Answering a `.waitForTaskToken` state (the task token names the task, so these take no resource). */
export const taskTokenActions = [
  'states:SendTaskSuccess',
  'states:SendTaskFailure',
  'states:SendTaskHeartbeat',
] as const;

/**
 * Step Functions actions per orchestrator capability (RouteAccess.orchestrator),
 * matched to the Orchestrator port (lambdas/ports/orchestrator.ts) on AWS:
 * `deploy` → deploy() (create or update, describe, tag); `run` → start, stop,
 * redrive, and the task-token calls.
 */
export const orchestratorActions = {
  deploy: {
    stateMachines: [
      'states:CreateStateMachine',
      'states:UpdateStateMachine',
      'states:DescribeStateMachine',
      'states:TagResource',
    ],
  },
  run: {
    stateMachines: ['states:StartExecution'],
    executions: ['states:StopExecution', 'states:RedriveExecution', 'states:DescribeExecution'],
    tokens: taskTokenActions,
  },
} as const;

/** Grants the task-token actions on `*`, the only resource they accept, and says why. */
export function grantTaskTokens(role: IRole): void {
  role.addToPrincipalPolicy(new PolicyStatement({ actions: [...taskTokenActions], resources: ['*'] }));
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'states:SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat support no resource-level ' +
      'permissions (the task token identifies the task), so * is their only resource; no other ' +
      'action of this role is granted on *.',
  });
}

/** Grants one orchestrator capability (of a route's `access`) to an API function's role. */
export function grantOrchestrator(role: IRole, engine: Engine, capability: OrchestratorCapability): void {
  const arns = flowArns(role);
  if (capability === 'deploy') {
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: [...orchestratorActions.deploy.stateMachines],
        resources: [arns.stateMachines],
      }),
    );
    // A created state machine runs as the states role: pass exactly that role, to Step Functions only.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [engine.statesRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'states.amazonaws.com' } },
      }),
    );
    acknowledgeFlowWildcard(role, arns.stateMachines, 'stateMachine');
    return;
  }
  role.addToPrincipalPolicy(
    new PolicyStatement({
      actions: [...orchestratorActions.run.stateMachines],
      resources: [arns.stateMachines],
    }),
  );
  role.addToPrincipalPolicy(
    new PolicyStatement({ actions: [...orchestratorActions.run.executions], resources: [arns.executions] }),
  );
  acknowledgeFlowWildcard(role, arns.stateMachines, 'stateMachine');
  acknowledgeFlowWildcard(role, arns.executions, 'execution');
  grantTaskTokens(role);
}

/** The IAM5 acknowledgement of the `sluice-*` state machine or execution ARN. */
export function acknowledgeFlowWildcard(
  role: IRole,
  resource: string,
  kind: 'stateMachine' | 'execution',
): void {
  acknowledgeWildcardResource(role, resource, {
    reason:
      kind === 'stateMachine'
        ? 'State machines are created at run time, one per flow version, all named sluice-<flowId>-v<n>; ' +
          'the wildcard is that name prefix, so only Sluice state machines of this account and region match.'
        : 'Executions get their names at run time, under state machines named sluice-<flowId>-v<n>; ' +
          'the wildcard covers only executions of Sluice state machines of this account and region.',
  });
}

/**
 * Schedule actions per the Scheduler port (lambdas/adapters/aws/eventbridge-scheduler.ts):
 * put → UpdateSchedule, then CreateSchedule when missing; remove → DeleteSchedule.
 */
export const scheduleActions = [
  'scheduler:CreateSchedule',
  'scheduler:UpdateSchedule',
  'scheduler:DeleteSchedule',
] as const;

/** Grants an API function the schedule actions on Sluice's group, and passing the scheduler role. */
export function grantScheduleManagement(role: IRole, schedules: TriggerSchedules): void {
  const stack = Stack.of(role);
  const schedulesOfGroup = stack.formatArn({
    service: 'scheduler',
    resource: 'schedule',
    resourceName: `${schedules.group.scheduleGroupName}/*`,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
  role.addToPrincipalPolicy(
    new PolicyStatement({ actions: [...scheduleActions], resources: [schedulesOfGroup] }),
  );
  role.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [schedules.schedulerRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
    }),
  );
  acknowledgeWildcardResource(role, schedulesOfGroup, {
    reason:
      'Schedules are created at run time, one per cron trigger, all in Sluice’s one schedule group; ' +
      'the wildcard is the schedule name inside that group, nothing else.',
  });
}
