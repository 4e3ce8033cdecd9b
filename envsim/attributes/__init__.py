"""Attribute synthesis: what one sample is made of (sampled values, source rows, generated and
transformed attributes), computed reproducibly from (seed, sample index). See docs/attributes.md."""
