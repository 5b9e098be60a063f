/** Zod object schemas that cover every property of a record type. */
import { z } from 'zod';

/**
 * The schema of each property of T. Every property must be named: a zod object drops properties it
 * does not know, so a field added to a record type without its schema would vanish on write.
 */
export type RecordShape<T> = { [K in keyof T]-?: z.ZodType<T[K] | undefined> };

/** A zod object schema for T that names every property of T (see RecordShape). */
export function recordSchema<T>(shape: RecordShape<T>): z.ZodType<T> {
  return z.object(shape) as unknown as z.ZodType<T>;
}
