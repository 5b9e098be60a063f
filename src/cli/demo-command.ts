import path from 'node:path';
import { UsageError, stringOption, type Command } from './command.js';
import { untilSignal } from './signals.js';

export const demoCommand: Command = {
  name: 'demo',
  summary:
    'Run the whole system (dev PKI, token issuer, gateway, sample banking API) and print curl commands.',
  usage: '[--pki DIR] [--port-base N] [--verbose]',
  options: {
    pki: { type: 'string' },
    'port-base': { type: 'string' },
    verbose: { type: 'boolean' },
  },
  async run(args) {
    const { startDemo, renderDemoInstructions, DEMO_DEFAULT_PORT_BASE } = await import('../demo/demo.js');
    const pkiShown = stringOption(args, 'pki') ?? 'dev-pki/demo';
    const raw = stringOption(args, 'port-base');
    const portBase = raw === undefined ? DEMO_DEFAULT_PORT_BASE : Number(raw);
    if (
      !Number.isInteger(portBase) ||
      portBase < 0 ||
      (portBase !== 0 && (portBase < 1024 || portBase > 65528))
    )
      throw new UsageError(
        `--port-base must be 0 (ephemeral ports) or between 1024 and 65528 (got "${raw}")`,
      );
    let demo;
    try {
      demo = await startDemo({
        pkiDir: path.resolve(pkiShown),
        portBase,
        logLevel: args.values.verbose === true ? 'info' : 'warn',
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { key?: string };
      if (e.code === 'EADDRINUSE' || /already in use/.test(e.message))
        throw new UsageError(
          `${e.message} (choose other ports with --port-base N, or 0 for ephemeral ports)`,
        );
      throw err;
    }
    process.stdout.write(renderDemoInstructions(demo, pkiShown));
    const signal = await untilSignal();
    process.stdout.write(`\n${signal}: stopping the gateway, the issuer and the banking API...\n`);
    await demo.close();
    process.stdout.write('stopped.\n');
    return 0;
  },
};
