/** fast-check arbitraries shared by the property tests of parsers that take untrusted JSON. */
import fc from 'fast-check';

/** Names that reach an object's prototype when code merges or indexes objects carelessly. */
export const PROTOTYPE_KEYS = ['__proto__', 'constructor'] as const;

/**
 * Any JSON value (small: at most 3 members or items per level), biased towards `scalars` and object members
 * named `keys` (plus {@link PROTOTYPE_KEYS}) that the parser under test gives a meaning to.
 */
export function hostileJson(options: {
  scalars: readonly unknown[];
  keys: readonly string[];
  /** Also arbitrary doubles (JSON numbers of every magnitude). */
  doubles?: boolean;
}): fc.Arbitrary<unknown> {
  return fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom(...options.scalars),
      ...(options.doubles ? [fc.double({ noNaN: true, noDefaultInfinity: true })] : []),
      fc.string({ maxLength: 12 }),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(
        fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS, ...options.keys), fc.string({ maxLength: 6 })),
        tie('value'),
        {
          maxKeys: 3,
        },
      ),
    ),
  })).value;
}
