#!/usr/bin/env bash
# Seeds for fuzz_config: small ViT and ResNet config.json files (written here, nothing committed).
set -euo pipefail
out=$1
mkdir -p "$out"
cat >"$out/vit.json" <<'J'
{"architectures": ["ViTForImageClassification"], "model_type": "vit", "hidden_size": 8,
 "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16, "image_size": 8,
 "patch_size": 4, "hidden_act": "gelu", "id2label": {"0": "cat", "1": "dog"}}
J
cat >"$out/resnet.json" <<'J'
{"architectures": ["ResNetForImageClassification"], "model_type": "resnet", "embedding_size": 8,
 "hidden_sizes": [8, 16], "depths": [1, 1], "layer_type": "basic", "num_labels": 3,
 "problem_type": "multi_label_classification"}
J
echo '{"model_type": "vit", "num_labels": 2}' >"$out/min.json"
