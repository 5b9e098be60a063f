#!/usr/bin/env node
/**
 * The `fapi-gateway` entry point. A server command first re-runs itself with the V8 heap settings it needs
 * (v8-heap.ts); only then is the command line itself loaded (./run-cli.ts), so that a process that hands
 * over to another (Node 20 has no execve) has loaded none of the CLI's modules and stays small.
 */
import { arrangeHeap } from './v8-heap.js';

await arrangeHeap();
await import('./run-cli.js');
