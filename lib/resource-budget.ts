import { CfnResource, Stack } from 'aws-cdk-lib';

/** CloudFormation's hard limit of resources per stack. */
export const cloudFormationResourceLimit = 500;

/**
 * Synthesis fails (with a clear message) before a stack reaches this many
 * resources, leaving room for the stack's own fixed resources and a review.
 */
export const resourceBudget = 450;

/** Number of CloudFormation resources a stack will synthesize. */
export function countResources(stack: Stack): number {
  return stack.node
    .findAll()
    .filter((construct) => CfnResource.isCfnResource(construct) && Stack.of(construct) === stack).length;
}

/** Fails synthesis when the stack outgrows its budget, instead of failing a deployment later. */
export function guardResourceBudget(stack: Stack, budget = resourceBudget): void {
  stack.node.addValidation({
    validate: () => {
      const count = countResources(stack);
      return count > budget
        ? [
            `${stack.stackName} would hold ${count} resources (budget ${budget}, CloudFormation limit ` +
              `${cloudFormationResourceLimit}): split its handler modules across more stacks.`,
          ]
        : [];
    },
  });
}
