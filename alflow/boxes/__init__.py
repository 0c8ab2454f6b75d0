"""Per-box predictions and the image scores they give: the one path of classification (one
whole-image box per sample) and detection (many boxes per image), whoever predicted them."""
