import { describe, expect, it } from 'vitest';
import { LAYER_STOPPED_AFTER_MS, LayerActivity } from '../../src/sfu/LayerActivity.js';

describe('LayerActivity', () => {
  it('a layer that has never sent stays stopped through every check until its first packet', () => {
    const layers = [{ packetsReceived: 5 }, { packetsReceived: 0 }];
    const activity = new LayerActivity(layers, 0);
    expect(activity.stopped).toEqual([false, true]);
    for (const now of [250, 500, 750]) {
      layers[0]!.packetsReceived += 10;
      expect(activity.check(now), `check at ${now} ms`).toBe(false);
      expect(activity.stopped).toEqual([false, true]);
    }
    layers[1]!.packetsReceived = 1;
    expect(activity.check(1000)).toBe(true);
    expect(activity.stopped).toEqual([false, false]);
    // Then both quiet for the threshold: stopped.
    expect(activity.check(1000 + LAYER_STOPPED_AFTER_MS + 1)).toBe(true);
    expect(activity.stopped).toEqual([true, true]);
  });
});
