/**
 * CDK app entry (`cdk.json` runs it with the project's pinned Node 24).
 * Every stack comes from the route table; see lib/sluice.ts.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { defineSluice, optionsFromContext } from './sluice.ts';

const app = new App();
const account = process.env.CDK_DEFAULT_ACCOUNT;
const region = process.env.CDK_DEFAULT_REGION;
// Without credentials (e.g. CI synth) the stacks stay environment-agnostic.
const env = account && region ? { account, region } : undefined;

defineSluice(app, optionsFromContext(app, env));

// cdk-nag runs during synthesis; an unacknowledged finding fails `cdk synth`.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));

app.synth();
