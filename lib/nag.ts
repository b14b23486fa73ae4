import { Stack, Validations } from 'aws-cdk-lib';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference.js';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges cdk-nag's AwsSolutions-IAM5 finding for exactly one wildcard
 * resource of a role's (or policy's) statements. The finding id embeds the
 * resource as it is synthesized, and a resource of another stack takes its
 * final form (a cross-stack reference) only when CDK resolves references
 * during synthesis. So the id is computed in a construct validation: those
 * run after references are resolved and before policy validation plugins
 * such as cdk-nag.
 */
export function acknowledgeWildcardResource(
  scope: IConstruct,
  resource: string,
  { reason }: { reason: string },
): void {
  scope.node.addValidation({
    validate: () => {
      const flattened = flattenCfnReference(Stack.of(scope).resolve(resource));
      Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flattened}]`, reason });
      return [];
    },
  });
}
