"""Code that several benchmarks share (COCO vocabulary and ground truth, caption scoring, data sources, judge runs)."""
