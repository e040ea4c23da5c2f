// `spirt asl export`
import fs from 'node:fs';
import path from 'node:path';
import { ArgumentError } from '../errors';
import { CliCommand, parseOptions } from './command';

const USAGE = `usage: spirt asl export (--arn-prefix PREFIX | --sam) [--out FILE]`;

const exportCommand: CliCommand = {
  name: 'asl export',
  summary: 'print the epoch state machine for AWS Step Functions',
  help: `${USAGE}

Prints the epoch state machine (the ASL definition that runs locally under aws-local-stepfunctions) in a form
AWS Step Functions deploys: every Task state invokes a Lambda function named PREFIX + membership, gradient,
exchange, aggregate, update, convergence or recover, whose handler is the spirt/functions export of the
same task (membership, computeGradient, exchange, ...).

options:
  --arn-prefix PREFIX   the functions' ARN up to the task's name,
                        e.g. arn:aws:lambda:eu-west-1:123456789012:function:spirt-
  --sam                 write \${MembershipFunctionArn} ... \${RecoverFunctionArn} instead, the
                        DefinitionSubstitutions of packaging/template.yaml (save it beside the template
                        as epoch.asl.json)
  --out FILE            write the definition to FILE instead of stdout
  -h, --help            this help
`,
  async run(argv) {
    const parsed = parseOptions(this, argv, { 'arn-prefix': { type: 'string' }, sam: { type: 'boolean' }, out: { type: 'string' } });
    if (!parsed) return 0;
    const { 'arn-prefix': arnPrefix, sam, out } = parsed.values;
    if ((arnPrefix === undefined) === !sam) {
      throw new ArgumentError('ERR_ARGUMENT', `'spirt asl export' takes either --arn-prefix PREFIX or --sam (see spirt asl export --help)`);
    }
    const { exportDefinition, samDefinition } = await import('../orchestrate/definition');
    const text = `${JSON.stringify(sam ? samDefinition() : exportDefinition(arnPrefix as string), null, 2)}\n`;
    if (out === undefined) {
      process.stdout.write(text);
    } else {
      fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
      fs.writeFileSync(out, text);
      process.stdout.write(`written: ${path.resolve(out)}\n`);
    }
    return 0;
  },
};

const SUBCOMMANDS: readonly CliCommand[] = [exportCommand];

export const aslCommand: CliCommand = {
  name: 'asl',
  summary: 'the epoch state machine: asl export writes it for AWS Step Functions',
  help: `${USAGE}\n\n(spirt asl export --help for its options)\n`,
  async run(argv) {
    const [name, ...rest] = argv;
    if (name === '--help' || name === '-h') {
      process.stdout.write(this.help);
      return 0;
    }
    const sub = SUBCOMMANDS.find((c) => c.name === `asl ${name}`);
    if (!sub) throw new ArgumentError('ERR_ARGUMENT', name === undefined ? `'spirt asl' needs a subcommand\n${this.help}` : `unknown subcommand 'asl ${name}'\n${this.help}`);
    return sub.run(rest);
  },
};
