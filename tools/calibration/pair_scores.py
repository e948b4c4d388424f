#!/usr/bin/env python3
"""How well a pair's expected_correct (the mean calibrated confidence of its points) tells which pairs need a look:
reads an evaluation's results log (hpf evaluate --results LOG) and reports the rank correlation with the pair's
PCK@0.1, the AUROC of finding the pairs with fewer than half of their points right, and the share of those pairs among
the 10 % with the lowest expected_correct.
    tools/calibration/pair_scores.py LOG.jsonl
Needs numpy."""
import json, sys, numpy as np
from figures import auroc, ranks

expected, pck = [], []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if not r.get('points') or any(p['confidence'] is None for p in r['points']): continue
    expected.append(np.mean([p['confidence'] for p in r['points']])); pck.append(r['correct']['0.1'] / r['keypoints'])
expected, pck = np.array(expected), np.array(pck)
bad = pck < 0.5
spearman = np.corrcoef(ranks(expected), ranks(pck))[0, 1]
n1 = bad.sum()
worst = np.argsort(expected, kind='stable')[:len(expected) // 10]
print(f'{len(expected)} pairs: Spearman {spearman:.3f} with PCK@0.1; {n1} pairs with PCK@0.1 < 50 %: AUROC {auroc(-expected, bad):.3f}, '
      f'{100 * bad[worst].sum() / n1:.0f} % of them among the 10 % lowest expected_correct')
