"""The VLM family: Qwen3-VL (+ LoRA) writes a grasp as five integers (``cx cy theta w h``)."""
