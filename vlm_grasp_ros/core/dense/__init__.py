"""The dense family's model-independent parts: the five grasp maps, their rasterisation from
labelled rectangles (training targets) and their post-processing into ranked grasps."""
