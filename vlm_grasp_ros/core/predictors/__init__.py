"""Grasp predictors: one interface for the models and the classical baselines."""
