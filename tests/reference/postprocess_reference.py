#!/usr/bin/python3
"""transformers' ImageClassificationPipeline.postprocess in numpy (the reference for
binscan's src/classify/postprocess.cpp).

  postprocess_reference.py CASES.json OUT.json

CASES.json: [{"logits": [...], "labels": [...], "problem_type": null|"...", "top_k": K}, ...]
OUT.json:   [{"scores": [every class, float32 as float], "predictions":
              [{"label": L, "score": S, "index": I}, ...]}, ...]
The pipeline's logic: sigmoid when problem_type == "multi_label_classification" or
num_labels == 1, else softmax (numpy, float32, shifted by the max); top_k capped at num_labels;
list.sort(key=score, reverse=True), which is stable (ties keep index order).
"""
import json
import sys

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x):
    maxes = np.max(x, axis=-1, keepdims=True)
    shifted_exp = np.exp(x - maxes)
    return shifted_exp / shifted_exp.sum(axis=-1, keepdims=True)


def postprocess(case):
    logits = np.array(case["logits"], dtype=np.float32)
    labels = case["labels"]
    n = len(labels)
    pt = case.get("problem_type")
    if pt == "multi_label_classification" or n == 1:
        scores = sigmoid(logits)
    else:
        scores = softmax(logits)
    top_k = min(case["top_k"], n)
    d = [{"label": labels[i], "score": s.item(), "index": i} for i, s in enumerate(scores)]
    d.sort(key=lambda x: x["score"], reverse=True)
    return {"scores": [float(s) for s in scores], "predictions": d[:top_k]}


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    with np.errstate(over="ignore"):
        out = [postprocess(c) for c in cases]
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
