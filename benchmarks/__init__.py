"""Performance benchmarks: seeded data, the naive baseline, the pipeline measured from outside."""
