"""The `vlm-grasp` command line: thin shells over the core."""
