"""Images as tensors and files: pure tensor ops, reading and writing, statistics, contact sheets. Plain torch."""
