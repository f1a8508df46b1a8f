#!/usr/bin/env python3
"""Repacks Cora from PyPI graphdatascience 2.2 into src/data/files/cora.txt.gz.

    pip download graphdatascience==2.2 --no-deps && unzip graphdatascience-2.2-*.whl
    pip install pandas pyarrow
    python3 scripts/repack_cora.py graphdatascience/resources/cora

Format (gzip text, byte-identical across runs): `cora N F C`, the class names tab-separated,
one line per paper (its class, then the indices of the words it contains), `edges E`, then one
citation per line as two node indices (in the order of the node lines).
"""
import gzip
import sys

import numpy as np
import pandas as pd

root = sys.argv[1]
nodes = pd.read_parquet(f"{root}/cora_nodes.parquet.gzip")
rels = pd.read_parquet(f"{root}/cora_rels.parquet.gzip")
index = {v: i for i, v in enumerate(nodes.nodeId)}
names = ["Neural_Networks", "Rule_Learning", "Reinforcement_Learning", "Probabilistic_Methods",
         "Theory", "Genetic_Algorithms", "Case_Based"]  # graphdatascience's SUBJECT_TO_ID order
f = len(nodes.features[0])
lines = [f"cora {len(nodes)} {f} {len(names)}", "\t".join(names)]
for subject, feats in zip(nodes.subject, nodes.features):
    words = np.nonzero(np.asarray(feats))[0]
    lines.append(" ".join([str(int(subject))] + [str(w) for w in words]))
edges = [f"{index[a]} {index[b]}" for a, b in zip(rels.sourceNodeId, rels.targetNodeId)]
lines.append(f"edges {len(edges)}")
lines += edges
data = ("\n".join(lines) + "\n").encode()
with open("src/data/files/cora.txt.gz", "wb") as out:
    out.write(gzip.compress(data, 9, mtime=0))
