/**
 * Imported first by the CLI entry point: a server command re-runs itself with the V8 heap settings it
 * needs (v8-heap.ts) before any other module is loaded.
 */
import { arrangeHeap } from './v8-heap.js';

await arrangeHeap();
