/**
 * Latency histograms in microseconds (1 µs to 120 s, 3 significant digits): the load generators
 * record into one each, and the sweep adds theirs into one of the same shape.
 */
import * as hdr from 'hdr-histogram-js';

export function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}
