"""Evaluation: AudioSet Strong ground truth, stored frame scores, PSDS1 / pAUROC, retrieval."""
