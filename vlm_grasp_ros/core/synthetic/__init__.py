"""Deterministic synthetic top-down tabletop scenes with antipodal grasp labels."""
