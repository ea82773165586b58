"""Small helpers shared by the core package, training and export (no TensorFlow imports)."""
