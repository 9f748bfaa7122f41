"""vlm_grasp: planar robot grasps from camera images with modern vision models."""

__version__ = "0.1.0"
